// Field shapes of Kubernetes, Knative and KEDA objects, read from the TypeScript declarations
// that ship with the kubernetes-models packages, for the unknown-key check.
//
// The packages' validate() runs JSON schemas that allow additional properties, so a misspelt
// field (`templat:`, `protocl:`) passes it and is then silently dropped by the API server. The
// declarations list every field, so this module turns them into shapes:
//   {kind: "object", props: Map<name, () => shape>}   fields known, others are errors
//   {kind: "map", value: () => shape}                 free keys (labels, resources)
//   {kind: "array", item: () => shape}
//   {kind: "open"}                                    `{}`: the schema preserves unknown fields
//   {kind: "leaf"}                                    strings, numbers, unions of them
// Referenced interfaces are read lazily, so recursive types cost nothing until used.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const kModules = join(dirname(fileURLToPath(import.meta.url)), "node_modules");
const kLeaf = { kind: "leaf" };
const kOpen = { kind: "open" };

// The declaration file of a module path such as "kubernetes-models/apps/v1/DaemonSet".
export function declarationFile(modulePath) {
  return join(kModules, modulePath + ".d.ts");
}

function tokenize(text) {
  const source = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
  const tokens = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_$][\w$.]*|\d+|=>|\S)/y;
  let m;
  while ((m = re.exec(source)) !== null) tokens.push(m[1]);
  return tokens;
}

const fileCache = new Map();

// Parses one declaration file: its imports and the body of its first interface (or type).
function readDeclarations(file) {
  if (fileCache.has(file)) return fileCache.get(file);
  const entry = { file, imports: new Map(), root: kLeaf };
  fileCache.set(file, entry);
  if (!existsSync(file)) return entry;
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const name of m[1].split(",")) {
      const parts = name.trim().split(/\s+as\s+/);
      if (parts[0]) entry.imports.set((parts[1] ?? parts[0]).trim(), m[2]);
    }
  }
  const tokens = tokenize(text);
  for (let i = 0; i < tokens.length - 2; ++i) {
    if (tokens[i] !== "export") continue;
    if (tokens[i + 1] === "interface") {
      const open = tokens.indexOf("{", i);
      entry.root = new Parser(tokens, open, entry).type();
      break;
    }
    if (tokens[i + 1] === "type" && tokens[i + 3] === "=") {
      entry.root = new Parser(tokens, i + 4, entry).type();
      break;
    }
  }
  return entry;
}

function resolveImport(entry, name) {
  const spec = entry.imports.get(name);
  if (!spec) return kLeaf;
  const file = spec.startsWith(".")
    ? resolve(dirname(entry.file), spec + ".d.ts")
    : declarationFile(spec);
  return readDeclarations(file).root;
}

class Parser {
  constructor(tokens, pos, entry) {
    this.t = tokens;
    this.i = pos;
    this.entry = entry;
  }
  peek() {
    return this.t[this.i];
  }
  next() {
    return this.t[this.i++];
  }
  expect(token) {
    const got = this.next();
    if (got !== token) throw new Error(`${this.entry.file}: expected ${token}, got ${got}`);
  }
  // union := primary ('|' primary)*; an object branch wins over scalar ones.
  type() {
    if (this.peek() === "|") this.next();
    let shape = this.primary();
    while (this.peek() === "|") {
      this.next();
      const other = this.primary();
      if (shape.kind === "leaf") shape = other;
    }
    return shape;
  }
  primary() {
    const tok = this.next();
    if (tok === "{") return this.members();
    if (tok === "Array" && this.peek() === "<") {
      this.next();
      const item = this.type();
      this.expect(">");
      return { kind: "array", item: () => item };
    }
    if (tok === "(") {
      const inner = this.type();
      this.expect(")");
      return inner;
    }
    let shape = kLeaf;
    if (/^[A-Za-z_$]/.test(tok) && this.entry.imports.has(tok)) {
      const entry = this.entry;
      shape = { kind: "ref", get: () => resolveImport(entry, tok) };
    }
    // Indexed access (IFoo["spec"]) and array suffixes (Foo[]).
    while (this.peek() === "[") {
      this.next();
      if (this.peek() === "]") {
        this.next();
        const item = shape;
        shape = { kind: "array", item: () => item };
      } else {
        this.type();
        this.expect("]");
        shape = kLeaf;
      }
    }
    return shape;
  }
  // members := (property | index-signature) (';' | ',')* until '}'
  members() {
    const props = new Map();
    let mapValue = null;
    while (this.peek() !== "}") {
      if (this.peek() === "[") {
        this.next();
        this.next(); // key
        this.expect(":");
        this.type();
        this.expect("]");
        this.expect(":");
        mapValue = this.type();
      } else {
        let name = this.next();
        if (/^["']/.test(name)) name = name.slice(1, -1);
        if (this.peek() === "?") this.next();
        this.expect(":");
        const value = this.type();
        props.set(name, () => value);
      }
      while (this.peek() === ";" || this.peek() === ",") this.next();
    }
    this.expect("}");
    if (mapValue) return { kind: "map", value: () => mapValue };
    if (props.size === 0) return kOpen;
    return { kind: "object", props };
  }
}

// Follows references until a concrete shape.
export function concrete(shape) {
  let s = shape;
  for (let hops = 0; s && s.kind === "ref" && hops < 32; ++hops) s = s.get();
  return s ?? kLeaf;
}

// The shape of a whole object of a model module, e.g. "kubernetes-models/v1/Service".
export function shapeOf(modulePath) {
  return readDeclarations(declarationFile(modulePath)).root;
}

// Returns `shape` with the field at `path` (a list of property names) replaced.
export function withField(shape, path, replacement) {
  const s = concrete(shape);
  if (s.kind !== "object") return s;
  const props = new Map(s.props);
  const [head, ...rest] = path;
  const child = props.get(head);
  props.set(head, rest.length === 0 ? () => replacement : () => withField(child(), rest, replacement));
  return { kind: "object", props };
}

// Returns an object shape that knows the fields of both `a` and `b`.
export function merged(a, b) {
  const sa = concrete(a);
  const sb = concrete(b);
  return { kind: "object", props: new Map([...(sa.props ?? []), ...(sb.props ?? [])]) };
}

// Calls report(path, key) for every key of `data` that `shape` does not know.
export function findUnknownKeys(data, shape, path, report) {
  const s = concrete(shape);
  if (data === null || typeof data !== "object") return;
  if (s.kind === "array") {
    if (Array.isArray(data)) data.forEach((v, i) => findUnknownKeys(v, s.item(), `${path}[${i}]`, report));
    return;
  }
  if (Array.isArray(data)) return;
  if (s.kind === "map") {
    for (const [k, v] of Object.entries(data)) findUnknownKeys(v, s.value(), `${path}.${k}`, report);
    return;
  }
  if (s.kind !== "object") return;
  for (const [k, v] of Object.entries(data)) {
    const field = s.props.get(k);
    if (!field) {
      report(path, k);
      continue;
    }
    findUnknownKeys(v, field(), path ? `${path}.${k}` : k, report);
  }
}
