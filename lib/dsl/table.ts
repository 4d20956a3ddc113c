/**
 * The command table of the kholab language, built explicitly from the command definitions:
 * configuration (`./commands/config.ts`), objects (`./commands/objects.ts`,
 * `./object_kinds.ts`), the handover (`./commands/kexec.ts`, `./commands/export.ts`), observation
 * (`./commands/observe.ts`), `chart` (`./commands/chart.ts`), `scenario` (`./commands/scenario.ts`), `design`
 * (`./commands/design.ts`), the special forms and the
 * metrics. Importing this module is all it takes to parse, check, run and complete scripts.
 *
 * @module
 */

import { CHART_COMMAND } from "./commands/chart.ts";
import { CONFIG_COMMANDS } from "./commands/config.ts";
import { DESIGN_COMMAND } from "./commands/design.ts";
import { EXPORT_COMMANDS } from "./commands/export.ts";
import { KEXEC_COMMANDS } from "./commands/kexec.ts";
import { OBJECT_COMMANDS } from "./commands/objects.ts";
import { OBSERVE_COMMANDS } from "./commands/observe.ts";
import { SCENARIO_COMMAND, SCENARIO_METRICS } from "./commands/scenario.ts";
import { SPECIAL_FORMS } from "./commands/special.ts";
import { API_METRICS } from "./kho_api.ts";
import { SESSION_METRICS } from "./metrics.ts";
import { OBJECT_KINDS } from "./object_kinds.ts";
import { type CommandTable, commandTable } from "./spec.ts";

/**
 * The language's table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TABLE } from "./table.ts";
 * assert.ok(TABLE.commands.has("scenario") && TABLE.objectKinds.has("folios"));
 * assert.ok(TABLE.metrics.has("restore.failed") && TABLE.metrics.has("scenario.lostObjects"));
 * ```
 */
export const TABLE: CommandTable = commandTable({
  commands: [
    ...CONFIG_COMMANDS,
    ...OBJECT_COMMANDS,
    ...KEXEC_COMMANDS,
    ...EXPORT_COMMANDS,
    ...OBSERVE_COMMANDS,
    CHART_COMMAND,
    ...SPECIAL_FORMS,
    SCENARIO_COMMAND,
    DESIGN_COMMAND,
  ],
  objectKinds: OBJECT_KINDS,
  metrics: [...SESSION_METRICS, ...API_METRICS, ...SCENARIO_METRICS],
});
