#!/usr/bin/env node
// Generates src/operations.gen.ts (params and result types per op) from the service's
// catalogue, GET /v1/op, whose entries carry each op's JSON Schemas.
//
//   node scripts/generate-types.mjs --url http://127.0.0.1:8080          # rewrite the file
//   node scripts/generate-types.mjs --url http://127.0.0.1:8080 --check  # exit 1 on drift
//   node scripts/generate-types.mjs --file catalogue.json [--check]
//
// No dependencies: the schemas are pydantic's (objects, anyOf, enum/const, arrays, $defs/$ref),
// which map onto TypeScript directly.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const TARGET = path.join(HERE, '..', 'src', 'operations.gen.ts');

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function pascal(opId) {
  return opId.split(/[._-]/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

function canonical(value) {
  // NOTE: key order must not matter when deciding whether two $defs of one name are the same.
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }
  return value;
}

/** Named declarations shared by all ops; a name reused with another schema gets a prefix. */
class Declarations {
  constructor() {
    this.byName = new Map(); // name -> { key, text }
  }

  claim(name, schema, prefix, render) {
    const key = JSON.stringify(canonical(schema));
    for (const candidate of [name, prefix + name]) {
      const known = this.byName.get(candidate);
      if (known && known.key === key) return candidate;
      if (!known) {
        this.byName.set(candidate, { key, text: '' });
        this.byName.get(candidate).text = render(candidate);
        return candidate;
      }
    }
    throw new Error(`two different schemas are both named ${name} (${prefix})`);
  }

  text() {
    return [...this.byName.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, d]) => d.text)
      .join('\n\n');
  }
}

function docLines(schema) {
  const lines = [];
  if (schema.description) lines.push(schema.description);
  const facts = [];
  for (const [k, label] of [['default', 'default'], ['minimum', 'minimum'],
    ['maximum', 'maximum'], ['exclusiveMinimum', 'greater than'], ['minLength', 'min length'],
    ['maxLength', 'max length'], ['minItems', 'min items'], ['maxItems', 'max items'],
    ['format', 'format'], ['pattern', 'pattern']]) {
    if (schema[k] !== undefined) facts.push(`${label} ${JSON.stringify(schema[k])}`);
  }
  // NOTE: facts of an anyOf's non-null branch (pydantic puts limits there).
  for (const branch of schema.anyOf ?? []) {
    for (const k of ['minimum', 'maximum', 'minLength', 'maxLength', 'maxItems', 'format']) {
      if (branch[k] !== undefined) facts.push(`${k} ${JSON.stringify(branch[k])}`);
    }
  }
  if (facts.length) lines.push(facts.join('; '));
  return lines;
}

function comment(lines, indent) {
  if (!lines.length) return '';
  const safe = lines.map((l) => l.replaceAll('*/', '*\\/'));
  if (safe.length === 1) return `${indent}/** ${safe[0]} */\n`;
  return `${indent}/**\n${safe.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

class Converter {
  constructor(decls, root, prefix) {
    this.decls = decls;
    this.root = root;
    this.prefix = prefix;
  }

  ref(ref) {
    const m = /^#\/\$defs\/(.+)$/.exec(ref);
    if (!m) throw new Error(`unsupported $ref ${ref}`);
    const schema = this.root.$defs?.[m[1]];
    if (!schema) throw new Error(`dangling $ref ${ref}`);
    return this.named(m[1], schema);
  }

  /** Declare `schema` under `name` (an interface for objects, else a type alias). */
  named(name, schema) {
    return this.decls.claim(name, schema, this.prefix, (final) => {
      const doc = comment(schema.description ? [schema.description] : [], '');
      if (schema.type === 'object' && !schema.anyOf && (schema.properties || !schema.additionalProperties)) {
        const body = this.objectBody(schema, '');
        if (body.startsWith('{')) return `${doc}export interface ${final} ${body}`;
      }
      return `${doc}export type ${final} = ${this.type(schema, '')};`;
    });
  }

  objectBody(schema, indent) {
    const inner = indent + '  ';
    const required = new Set(schema.required ?? []);
    const lines = [];
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      const key = IDENT.test(name) ? name : JSON.stringify(name);
      const opt = required.has(name) ? '' : '?';
      lines.push(`${comment(docLines(prop), inner)}${inner}${key}${opt}: ${this.type(prop, inner)};`);
    }
    const extra = schema.additionalProperties;
    // NOTE: JSON Schema objects are open unless additionalProperties is false; results may
    // grow fields, params refuse unknown ones (so a misspelt param is a compile error).
    if (extra !== false) {
      const value = extra && typeof extra === 'object' && Object.keys(extra).length
        ? this.type(extra, inner) : 'unknown';
      lines.push(`${inner}[key: string]: ${value};`);
    }
    // NOTE: `{}` would accept any object; a closed empty object accepts only `{}`.
    if (!lines.length) return 'Record<string, never>';
    return `{\n${lines.join('\n')}\n${indent}}`;
  }

  type(schema, indent) {
    if (schema === true || schema === undefined) return 'unknown';
    if (schema === false) return 'never';
    if (schema.$ref) return this.ref(schema.$ref);
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
    for (const key of ['anyOf', 'oneOf']) {
      if (schema[key]) return union(schema[key].map((s) => this.type(s, indent)));
    }
    if (schema.allOf) return schema.allOf.map((s) => `(${this.type(s, indent)})`).join(' & ');
    if (Array.isArray(schema.type)) {
      return union(schema.type.map((t) => this.type({ ...schema, type: t }, indent)));
    }
    switch (schema.type) {
      case 'string': return 'string';
      case 'integer':
      case 'number': return 'number';
      case 'boolean': return 'boolean';
      case 'null': return 'null';
      case 'array': {
        if (Array.isArray(schema.prefixItems)) {
          return `[${schema.prefixItems.map((s) => this.type(s, indent)).join(', ')}]`;
        }
        const item = this.type(schema.items ?? {}, indent);
        return /^[A-Za-z0-9_]+$/.test(item) ? `${item}[]` : `Array<${item}>`;
      }
      case 'object': return this.objectBody(schema, indent);
      case undefined: return 'unknown';
      default: throw new Error(`unsupported JSON Schema type ${schema.type}`);
    }
  }
}

function union(parts) {
  return [...new Set(parts)].join(' | ');
}

/** The TypeScript module for a catalogue `{operations: [...]}`. */
export function generate(catalogue) {
  const ops = [...catalogue.operations].sort((a, b) => a.id.localeCompare(b.id));
  const decls = new Declarations();
  const entries = [];
  for (const op of ops) {
    const prefix = pascal(op.id);
    const params = new Converter(decls, op.params_schema, prefix)
      .named(op.params_schema.title ?? `${prefix}Params`, op.params_schema);
    const result = new Converter(decls, op.result_schema, prefix)
      .named(op.result_schema.title ?? `${prefix}Result`, op.result_schema);
    const doc = comment([
      `${op.purpose}`,
      `Side effect \`${op.side_effect}\`; scope \`${op.scope}\`; answers \`${op.media_type}\`.`,
      ...(op.errors?.length ? [`Documented errors: ${op.errors.join(', ')}.`] : []),
    ], '  ');
    entries.push(`${doc}  ${JSON.stringify(op.id)}: { params: ${params}; result: ${result} };`);
  }
  const ids = ops.map((o) => `  ${JSON.stringify(o.id)},`).join('\n');
  return `// Generated by scripts/generate-types.mjs from the service's GET /v1/op catalogue.
// Do not edit: run \`npm run generate -- --url <base URL>\` after an op changes.
/* eslint-disable */

${decls.text()}

/** Every operation of the catalogue: its params and its decoded result. */
export interface Operations {
${entries.join('\n')}
}

/** The operation ids this SDK was generated for. */
export const OPERATION_IDS = [
${ids}
] as const;
`;
}

async function loadCatalogue(args) {
  if (args.file) return JSON.parse(await readFile(args.file, 'utf8'));
  const base = (args.url ?? process.env.GEOPERA_BASE_URL ?? '').replace(/\/+$/, '');
  if (!base) throw new Error('give --url BASE_URL or --file catalogue.json (or GEOPERA_BASE_URL)');
  const res = await fetch(`${base}/v1/op`, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`GET ${base}/v1/op answered ${res.status}`);
  return res.json();
}

function parseArgs(argv) {
  const args = { check: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') args.check = true;
    else if (a === '--url') args.url = argv[++i];
    else if (a === '--file') args.file = argv[++i];
    else if (a === '--out') args.out = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

function firstDifference(a, b) {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) {
      return `line ${i + 1}:\n  checked in: ${la[i] ?? '<end of file>'}\n  catalogue:  ${lb[i] ?? '<end of file>'}`;
    }
  }
  return '';
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const target = args.out ?? TARGET;
  const text = generate(await loadCatalogue(args));
  if (args.check) {
    const current = await readFile(target, 'utf8').catch(() => '');
    if (current !== text) {
      console.error(`${path.relative(process.cwd(), target)} differs from the catalogue ` +
        `(run npm run generate -- --url <base URL>); first difference at ${firstDifference(current, text)}`);
      process.exit(1);
    }
    console.log(`${path.relative(process.cwd(), target)} matches the catalogue`);
    return;
  }
  await writeFile(target, text);
  console.log(`wrote ${path.relative(process.cwd(), target)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e.message);
    process.exit(2);
  });
}
