// Compiles the Solidity sources into committed, deterministic artifacts.
//
//   node build.mjs           compile src/*.sol, test/*.sol and examples/*.sol, write out/<Contract>.json
//   node build.mjs --check   compile and fail unless out/ matches byte for byte
//
// The compiler is the solc-js package pinned in package.json (npm ci first). Every
// artifact records the compiler version and settings it was built with. One artifact
// is written per deployable contract (libraries and interfaces have none); source
// unit names are relative to this folder, so nothing depends on where it lives.

import { readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { join, dirname, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';

const ROOT = dirname(fileURLToPath(import.meta.url));
const SOURCE_DIRS = ['src', 'test', 'examples'];
const OUT_DIR = join(ROOT, 'out');
const SOLC_VERSION = '0.8.37';

// The one place the compiler settings live. viaIR is on: the IR optimizer folds the
// derived layout constants and inlines the small helpers, which halves the gas of a
// step against the legacy pipeline (docs/gas.md). The runs figure favours cheap
// execution over deployment size. The CBOR metadata trailer is left out so the
// bytecode depends on the code alone, not on comments.
const SETTINGS = {
  evmVersion: 'osaka',
  optimizer: { enabled: true, runs: 1000000 },
  viaIR: true,
  metadata: { appendCBOR: false },
};

function sourceFiles() {
  return SOURCE_DIRS.flatMap((dir) => {
    const abs = join(ROOT, dir);
    if (!existsSync(abs)) return [];
    return readdirSync(abs)
      .filter((f) => f.endsWith('.sol'))
      .sort()
      .map((f) => `${dir}/${f}`);
  });
}

// Resolves imports that are not among the sources, inside this folder only.
function findImport(path) {
  const rel = normalize(path);
  if (rel.startsWith('..') || rel.startsWith(sep)) return { error: `import outside contracts/: ${path}` };
  try {
    return { contents: readFileSync(join(ROOT, rel), 'utf8') };
  } catch {
    return { error: `import not found: ${path}` };
  }
}

function compile() {
  if (!solc.version().startsWith(`${SOLC_VERSION}+`)) {
    throw new Error(`solc ${solc.version()} found, ${SOLC_VERSION} pinned: run npm ci`);
  }
  const sources = Object.fromEntries(
    sourceFiles().map((f) => [f, { content: readFileSync(join(ROOT, f), 'utf8') }]),
  );
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      ...SETTINGS,
      outputSelection: {
        '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'], '': ['ast'] },
      },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const diagnostics = output.errors ?? [];
  for (const d of diagnostics) console.error(d.formattedMessage);
  // Warnings fail the build too: the sources are kept warning-free.
  if (diagnostics.some((d) => d.severity !== 'info')) {
    throw new Error('solc reported errors or warnings');
  }

  const artifacts = new Map();
  for (const file of Object.keys(sources)) {
    const kinds = new Map(
      output.sources[file].ast.nodes
        .filter((n) => n.nodeType === 'ContractDefinition')
        .map((n) => [n.name, n.contractKind]),
    );
    for (const [name, contract] of Object.entries(output.contracts[file] ?? {})) {
      if (kinds.get(name) !== 'contract') continue;
      if (artifacts.has(name)) throw new Error(`two contracts named ${name}`);
      // Keys in a fixed order; the ABI as solc sorts it.
      const artifact = {
        contractName: name,
        sourceName: file,
        compiler: { version: solc.version(), settings: SETTINGS },
        abi: contract.abi,
        bytecode: `0x${contract.evm.bytecode.object}`,
        deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
      };
      artifacts.set(`${name}.json`, `${JSON.stringify(artifact, null, 2)}\n`);
    }
  }
  return artifacts;
}

function existing() {
  if (!existsSync(OUT_DIR)) return new Map();
  return new Map(
    readdirSync(OUT_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => [f, readFileSync(join(OUT_DIR, f), 'utf8')]),
  );
}

function main() {
  const check = process.argv.includes('--check');
  const built = compile();
  if (check) {
    const have = existing();
    const names = [...new Set([...built.keys(), ...have.keys()])].sort();
    const stale = names.filter((n) => built.get(n) !== have.get(n));
    if (stale.length > 0) {
      console.error(`out/ is stale (run node build.mjs): ${stale.join(', ')}`);
      process.exit(1);
    }
    console.log(`out/ is up to date (${built.size} artifacts)`);
    return;
  }
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR);
  for (const [name, text] of built) writeFileSync(join(OUT_DIR, name), text);
  console.log(`wrote ${built.size} artifacts to out/`);
}

main();
