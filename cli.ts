#!/usr/bin/env -S node --no-memory-reducer
/* kiln: the one binary. This file only dispatches commands (ARCHITECTURE.md "Composition"). */
import { HELP, HelpRequested, PrintDdl, UsageError, agentConfig, pricingConfig, reportConfig, runConfig, serverConfig } from './config/config.js';
import { agent } from './commands/agent.js';
import { server } from './commands/server.js';
import { pricing } from './commands/pricing.js';
import { report } from './commands/report.js';
import { run } from './commands/run.js';

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  try {
    if (cmd === 'run') return await run(runConfig(rest), fail);
    if (cmd === 'agent') return await agent(agentConfig(rest), fail);
    if (cmd === 'server') return await server(serverConfig(rest), fail);
    if (cmd === 'report') return await report(reportConfig(rest), fail);
    if (cmd === 'pricing') return await pricing(pricingConfig(rest), fail);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(`${e.text}\n`);
      return;
    }
    if (e instanceof PrintDdl) {
      const [{ clusterStatements }, { TABLES, KILN_SCHEMA }] = await Promise.all([import('./store/cluster.js'), import('./store/schema.js')]);
      process.stdout.write(`${clusterStatements([...TABLES, KILN_SCHEMA], { cluster: e.cluster }, e.retentionDays).join(';\n\n')};\n`);
      return;
    }
    if (e instanceof UsageError) fail(`kiln ${cmd}: ${e.message}`);
    throw e;
  }
  fail(`kiln: unknown command "${cmd}" (try kiln --help)`);
}

main().catch((e) => fail(`kiln: ${(e as Error).stack ?? e}`));
