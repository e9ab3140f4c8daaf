/** The request bodies of the /networks routes (zod), as dockerd accepts them. */
import { z } from "zod";
import { EndpointSettingsSchema } from "../types.js";

const nullable = <T extends z.ZodTypeAny>(t: T) => t.nullable().optional();
const strMap = z.record(z.string(), z.string());

export const NetworkCreateSchema = z.looseObject({
  Name: nullable(z.string()),
  Driver: nullable(z.string()),
  Scope: nullable(z.string()),
  Internal: nullable(z.boolean()),
  Attachable: nullable(z.boolean()),
  Ingress: nullable(z.boolean()),
  EnableIPv4: nullable(z.boolean()),
  EnableIPv6: nullable(z.boolean()),
  ConfigOnly: nullable(z.boolean()),
  ConfigFrom: nullable(z.looseObject({ Network: nullable(z.string()) })),
  CheckDuplicate: nullable(z.boolean()),
  IPAM: nullable(
    z.looseObject({
      Driver: nullable(z.string()),
      Options: nullable(strMap),
      Config: nullable(z.array(z.looseObject({ Subnet: nullable(z.string()), Gateway: nullable(z.string()), IPRange: nullable(z.string()), AuxiliaryAddresses: nullable(strMap) }).nullable())),
    }),
  ),
  Options: nullable(strMap),
  Labels: nullable(strMap),
});
export type NetworkCreateBody = z.infer<typeof NetworkCreateSchema>;

export const NetworkConnectSchema = z.looseObject({ Container: z.string(), EndpointConfig: nullable(EndpointSettingsSchema) });
export const NetworkDisconnectSchema = z.looseObject({ Container: z.string(), Force: nullable(z.boolean()) });

