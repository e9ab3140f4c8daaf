#!/usr/bin/env node
/**
 * berth: the Berth CLI, a client of the Docker Engine API served by berthd,
 * with docker's verbs, flags, output formats and exit codes.
 */
import { main } from "./program.js";

void main(process.argv);
