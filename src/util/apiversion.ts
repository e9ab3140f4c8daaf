/** The Engine API versions berthd serves (and the CLI and client speak): the newest and the oldest. */
export const API_VERSION = "1.47";
export const MIN_API_VERSION = "1.24";
