/**
 * Just enough of JSON Schema 2020-12 to check docs/frames.schema.json (the keywords it uses), and a
 * generator of valid and broken examples from it, so tests can hold the published schema against
 * the codec and against what a node sends.
 */
type Schema = Record<string, any>;

export class SchemaChecker {
  constructor(readonly root: Schema) {}

  resolve(schema: Schema): Schema {
    let s = schema;
    while (typeof s.$ref === 'string') {
      const path = (s.$ref as string).replace(/^#\//, '').split('/');
      s = path.reduce<any>((node, key) => node?.[key], this.root);
      if (s === undefined) throw new Error(`unresolved $ref ${schema.$ref}`);
    }
    return s;
  }

  /** Every way `value` breaks `schema`, as "path: reason"; empty when it is valid. */
  errors(schema: Schema, value: unknown, path = '$'): string[] {
    const s = this.resolve(schema);
    const out: string[] = [];
    const fail = (reason: string) => out.push(`${path}: ${reason}`);
    if ('const' in s && value !== s.const) fail(`must be ${JSON.stringify(s.const)}`);
    if (Array.isArray(s.enum) && !s.enum.includes(value)) fail(`must be one of ${s.enum.join(', ')}`);
    if (Array.isArray(s.oneOf)) {
      const passing = s.oneOf.filter((branch: Schema) => this.errors(branch, value, path).length === 0).length;
      if (passing !== 1) fail(`must match exactly one of ${s.oneOf.length} schemas (matched ${passing})`);
    }
    if (s.not !== undefined && this.errors(s.not, value, path).length === 0) fail(`must not match ${JSON.stringify(s.not)}`);
    if (s.type !== undefined && !hasType(value, s.type)) return [...out, `${path}: must be ${s.type}`];
    if (typeof value === 'string') {
      const length = [...value].length;
      if (s.minLength !== undefined && length < s.minLength) fail(`shorter than ${s.minLength}`);
      if (s.maxLength !== undefined && length > s.maxLength) fail(`longer than ${s.maxLength}`);
      if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(value)) fail(`does not match ${s.pattern}`);
      if (s.format === 'date-time' && (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value) || Number.isNaN(Date.parse(value)))) fail('not a date-time');
    }
    if (typeof value === 'number') {
      if (s.minimum !== undefined && value < s.minimum) fail(`below ${s.minimum}`);
      if (s.maximum !== undefined && value > s.maximum) fail(`above ${s.maximum}`);
    }
    if (Array.isArray(value)) {
      if (s.minItems !== undefined && value.length < s.minItems) fail(`fewer than ${s.minItems} items`);
      if (s.maxItems !== undefined && value.length > s.maxItems) fail(`more than ${s.maxItems} items`);
      if (s.items !== undefined) value.forEach((item, i) => out.push(...this.errors(s.items, item, `${path}[${i}]`)));
    }
    if (isObject(value)) {
      for (const key of s.required ?? []) if (!(key in value)) fail(`missing ${key}`);
      for (const [key, v] of Object.entries(value)) {
        const property = s.properties?.[key];
        if (property !== undefined) out.push(...this.errors(property, v, `${path}.${key}`));
        else if (s.additionalProperties === false) fail(`unexpected property ${key}`);
      }
    }
    return out;
  }

  /**
   * Values `schema` accepts, covering each branch of every oneOf and each optional property once:
   * the smallest (required fields only) and the largest (every field, every string at its longest).
   */
  valid(schema: Schema): unknown[] {
    const s = this.resolve(schema);
    if ('const' in s) return [s.const];
    if (Array.isArray(s.enum)) return [s.enum[0]];
    if (Array.isArray(s.oneOf)) return s.oneOf.flatMap((b: Schema) => this.valid(b)).filter((v: unknown) => this.errors(s, v).length === 0);
    if (s.type === 'integer') return [s.minimum ?? 0, s.maximum ?? 1_000_000];
    if (s.type === 'boolean') return [true];
    if (s.type === 'string') {
      const candidates = ['42', '0100', 'hello', '9223372036854775807', 'x'.repeat(s.maxLength ?? 16), '2026-01-01T00:00:00.000Z'];
      const ok = candidates.filter((c) => this.errors(s, c).length === 0);
      if (ok.length === 0) throw new Error(`no example for ${JSON.stringify(s)}`);
      return [ok[0], ok.sort((a, b) => b.length - a.length)[0]];
    }
    if (s.type === 'object') {
      const required: string[] = s.required ?? [];
      const first = (key: string) => this.valid(s.properties[key])[0];
      const base = Object.fromEntries(required.map((k) => [k, first(k)]));
      const out: unknown[] = [base, Object.fromEntries(Object.keys(s.properties ?? {}).map((k) => [k, first(k)]))];
      for (const key of Object.keys(s.properties ?? {})) for (const v of this.valid(s.properties[key])) out.push({ ...base, [key]: v });
      return out;
    }
    // No constraint at all (a field the server ignores): any value will do.
    if (s.type === undefined) return ['anything'];
    throw new Error(`cannot build an example of ${JSON.stringify(s)}`);
  }

  /** Values just outside `schema` (a required field left out, one character or unit too many). */
  broken(schema: Schema, example: Record<string, unknown>): Array<{ why: string; value: unknown }> {
    const s = this.resolve(schema);
    const out: Array<{ why: string; value: unknown }> = [];
    for (const key of s.required ?? []) {
      const { [key]: _, ...rest } = example;
      out.push({ why: `without ${key}`, value: rest });
    }
    for (const [key, property] of Object.entries<Schema>(s.properties ?? {})) {
      for (const bad of this.#outside(property)) out.push({ why: `${key} = ${JSON.stringify(bad).slice(0, 40)}`, value: { ...example, [key]: bad } });
    }
    return out.filter((b) => this.errors(s, b.value).length > 0);
  }

  #outside(schema: Schema): unknown[] {
    const s = this.resolve(schema);
    if (Array.isArray(s.oneOf)) return s.oneOf.flatMap((b: Schema) => this.#outside(b));
    if (isObject(s.properties) || s.type === 'object') return [];
    const out: unknown[] = [];
    if (s.maxLength !== undefined) out.push('y'.repeat(s.maxLength + 1));
    if (s.minLength !== undefined && s.minLength > 0) out.push('');
    if (s.pattern !== undefined) out.push('not one', '0', '-1');
    if (s.maximum !== undefined) out.push(s.maximum + 1);
    if (s.minimum !== undefined) out.push(s.minimum - 1);
    if (s.type === 'string' && s.pattern === undefined) out.push(7);
    return out;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasType(v: unknown, type: string): boolean {
  switch (type) {
    case 'object': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'integer': return Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    case 'null': return v === null;
    default: throw new Error(`unknown type ${type}`);
  }
}
