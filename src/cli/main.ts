#!/usr/bin/env -S node --
/**
 * berth: the Berth CLI, a client of the Docker Engine API served by berthd,
 * with docker's verbs, flags, output formats and exit codes.
 * The shebang passes "--" to node: Node 20 would otherwise take `run --env-file F`
 * as its own --env-file option, wherever it stands on the command line.
 */
import { main } from "./program.js";

void main(process.argv);
