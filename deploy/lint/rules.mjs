// The checks behind lint.mjs, one function per rule. Each takes a parsed document and a
// report(rule, message) callback; lintDocuments() runs them all.
//
// Rules (the names tests and error lines use):
//   yaml                 the file parses, without duplicate keys
//   schema               the object validates against its kubernetes-models JSON schema
//   unknown-kind         apiVersion/kind is one the lint has a model for
//   unknown-key          a field that the object's type does not have (the schemas allow these)
//   knative-annotation   autoscaling.knative.dev/* keys: kebab-case, known, on the revision
//                        template only, with values of the right form
//   knative-scale-bounds min-scale <= max-scale (max-scale 0: unbounded)
//   knative-h2c-port     a Knative Service's container declares exactly one port, named h2c
//   knative-privileged   no privileged container in a Knative Service (Knative drops the bit)
//   bidirectional-mount  mountPropagation Bidirectional only in privileged containers
//   hugepages            hugepages-* requested equal to their limit, with cpu or memory
//   keda-scaler-address  an external/external-push trigger's scalerAddress names a Service
//                        port rendered in the same output
import { findUnknownKeys, merged, shapeOf, withField } from "./shapes.mjs";

// apiVersion -> module prefix of its model classes.
const kModelModules = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "rbac.authorization.k8s.io/v1": "kubernetes-models/rbac.authorization.k8s.io/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "scheduling.k8s.io/v1": "kubernetes-models/scheduling.k8s.io/v1",
  "serving.knative.dev/v1": "@kubernetes-models/knative/serving.knative.dev/v1",
  "eventing.knative.dev/v1": "@kubernetes-models/knative/eventing.knative.dev/v1",
  "keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1",
};

// Fields of a Knative revision spec beyond the Kubernetes PodSpec it embeds. The Knative
// schema in the models package predates some flag-gated PodSpec fields (hostIPC, hostPath
// volumes, grpc probes), so a revision spec is checked against the core PodSpec plus these.
const kRevisionFields = ["containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds",
  "idleTimeoutSeconds"];

const kKnativeAutoscaling = "autoscaling.knative.dev/";
// Known per-revision annotations and the form of their values.
const kAnnotationValues = {
  class: /^(kpa|hpa)\.autoscaling\.knative\.dev$/,
  metric: /^(concurrency|rps|cpu|memory|[a-z][a-z0-9_-]*)$/,
  target: /^\d+(\.\d+)?$/,
  "target-utilization-percentage": /^\d+(\.\d+)?$/,
  "min-scale": /^\d+$/,
  "max-scale": /^\d+$/,
  "initial-scale": /^\d+$/,
  "activation-scale": /^\d+$/,
  "scale-down-delay": /^(\d+(\.\d+)?(ms|s|m|h))+$/,
  window: /^(\d+(\.\d+)?(ms|s|m|h))+$/,
  "panic-window-percentage": /^\d+(\.\d+)?$/,
  "panic-threshold-percentage": /^\d+(\.\d+)?$/,
  "scale-to-zero-pod-retention-period": /^(\d+(\.\d+)?(ms|s|m|h))+$/,
};

const modelCache = new Map();

async function modelClass(apiVersion, kind) {
  const prefix = kModelModules[apiVersion];
  if (!prefix || !/^[A-Z][A-Za-z]+$/.test(kind)) return null;
  const key = `${prefix}/${kind}`;
  if (!modelCache.has(key)) {
    let cls = null;
    try {
      cls = (await import(key))[kind] ?? null;
    } catch {
      cls = null;
    }
    modelCache.set(key, cls);
  }
  return modelCache.get(key);
}

function shapeFor(apiVersion, kind) {
  const prefix = kModelModules[apiVersion];
  let shape = shapeOf(`${prefix}/${kind}`);
  if (apiVersion === "serving.knative.dev/v1" && (kind === "Service" || kind === "Configuration")) {
    const podSpec = shapeOf("kubernetes-models/v1/PodSpec");
    const extra = { kind: "object", props: new Map(kRevisionFields.map((f) => [f, () => ({ kind: "leaf" })])) };
    shape = withField(shape, ["spec", "template", "spec"], merged(podSpec, extra));
  }
  return shape;
}

function podSpecOf(doc) {
  if (doc.kind === "Pod") return doc.spec;
  if (doc.apiVersion === "serving.knative.dev/v1") return doc.spec?.template?.spec;
  if (doc.kind === "CronJob") return doc.spec?.jobTemplate?.spec?.template?.spec;
  return doc.spec?.template?.spec;
}

function allContainers(podSpec) {
  if (!podSpec) return [];
  return [...(podSpec.initContainers ?? []), ...(podSpec.containers ?? []),
    ...(podSpec.ephemeralContainers ?? [])].filter((c) => c && typeof c === "object");
}

const isKnativeService = (doc) => doc.apiVersion === "serving.knative.dev/v1" && doc.kind === "Service";

function checkKnativeAnnotations(doc, report) {
  const wrongPlace = [doc.metadata?.annotations, isKnativeService(doc) ? null : doc.spec?.template?.metadata?.annotations];
  for (const annotations of wrongPlace) {
    for (const key of Object.keys(annotations ?? {})) {
      if (key.startsWith(kKnativeAutoscaling)) {
        report("knative-annotation", `${key} belongs on a Knative Service's spec.template.metadata.annotations`);
      }
    }
  }
  if (!isKnativeService(doc)) return;
  const annotations = doc.spec?.template?.metadata?.annotations ?? {};
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(kKnativeAutoscaling)) continue;
    const name = key.slice(kKnativeAutoscaling.length);
    if (/[A-Z]/.test(name)) {
      report("knative-annotation", `${key}: use the kebab-case name (e.g. min-scale, not minScale)`);
      continue;
    }
    const form = kAnnotationValues[name];
    if (!form) {
      report("knative-annotation", `${key}: not a known autoscaling annotation`);
    } else if (typeof value !== "string" || !form.test(value)) {
      report("knative-annotation", `${key}: bad value ${JSON.stringify(value)}`);
    }
  }
}

function checkScaleBounds(doc, report) {
  if (!isKnativeService(doc)) return;
  const a = doc.spec?.template?.metadata?.annotations ?? {};
  const min = Number(a[`${kKnativeAutoscaling}min-scale`] ?? 0);
  const max = Number(a[`${kKnativeAutoscaling}max-scale`] ?? 0);
  if (Number.isInteger(min) && Number.isInteger(max) && max > 0 && min > max) {
    report("knative-scale-bounds", `min-scale ${min} exceeds max-scale ${max}`);
  }
}

function checkH2cPort(doc, report) {
  if (!isKnativeService(doc)) return;
  const ports = (doc.spec?.template?.spec?.containers ?? []).flatMap((c) => c?.ports ?? []);
  const h2c = ports.filter((p) => p?.name === "h2c");
  if (ports.length !== 1 || h2c.length !== 1) {
    report("knative-h2c-port", `a Knative Service serving gRPC declares exactly one port, named h2c (found ${ports.length} port(s), ${h2c.length} named h2c)`);
  }
  for (const p of ports) {
    if (p?.hostPort !== undefined) report("knative-h2c-port", "a Knative Service's port must not set hostPort");
  }
}

function checkKnativePrivileged(doc, report) {
  if (!isKnativeService(doc)) return;
  for (const c of allContainers(podSpecOf(doc))) {
    if (c.securityContext?.privileged === true) {
      report("knative-privileged", `container ${c.name}: Knative drops securityContext.privileged; run privileged work in the node runtime DaemonSet`);
    }
  }
}

function checkBidirectional(doc, report) {
  for (const c of allContainers(podSpecOf(doc))) {
    for (const m of c.volumeMounts ?? []) {
      if (m?.mountPropagation === "Bidirectional" && c.securityContext?.privileged !== true) {
        report("bidirectional-mount", `container ${c.name}: mount ${m.mountPath} uses Bidirectional propagation, which only privileged containers may`);
      }
    }
  }
}

function checkHugepages(doc, report) {
  for (const c of allContainers(podSpecOf(doc))) {
    const requests = c.resources?.requests ?? {};
    const limits = c.resources?.limits ?? {};
    const names = new Set([...Object.keys(requests), ...Object.keys(limits)].filter((k) => k.startsWith("hugepages-")));
    for (const name of names) {
      if (!(name in limits)) {
        report("hugepages", `container ${c.name}: ${name} needs a limit equal to its request`);
      } else if (name in requests && String(requests[name]) !== String(limits[name])) {
        report("hugepages", `container ${c.name}: ${name} request ${requests[name]} differs from limit ${limits[name]}`);
      }
    }
    const cpuOrMemory = ["cpu", "memory"].some((r) => r in requests || r in limits);
    if (names.size > 0 && !cpuOrMemory) {
      report("hugepages", `container ${c.name}: hugepages also need a cpu or memory request`);
    }
  }
}

function checkScalerAddress(doc, report, context) {
  if (!(doc.apiVersion === "keda.sh/v1alpha1" && doc.kind === "ScaledObject")) return;
  const namespace = doc.metadata?.namespace ?? "default";
  for (const t of doc.spec?.triggers ?? []) {
    if (t?.type !== "external" && t?.type !== "external-push") continue;
    const address = t.metadata?.scalerAddress;
    const m = /^([a-z0-9-]+)(?:\.([a-z0-9-]+))?(?:\.svc(?:\.cluster\.local)?)?:(\d+)$/.exec(address ?? "");
    if (!m) {
      report("keda-scaler-address", `scalerAddress ${JSON.stringify(address)} is not SERVICE[.NAMESPACE[.svc[.cluster.local]]]:PORT`);
      continue;
    }
    const [, name, ns = namespace, port] = m;
    const service = context.services.find((s) => s.metadata?.name === name && (s.metadata?.namespace ?? "default") === ns);
    if (!service) {
      report("keda-scaler-address", `scalerAddress ${address}: no Service ${ns}/${name} in this output`);
    } else if (!(service.spec?.ports ?? []).some((p) => String(p?.port) === port)) {
      report("keda-scaler-address", `scalerAddress ${address}: Service ${ns}/${name} has no port ${port}`);
    }
  }
}

// Every rule name a finding may carry.
export const kRuleNames = ["yaml", "schema", "unknown-kind", "unknown-key", "knative-annotation",
  "knative-scale-bounds", "knative-h2c-port", "knative-privileged", "bidirectional-mount",
  "hugepages", "keda-scaler-address"];

const kPolicyRules = [checkKnativeAnnotations, checkScaleBounds, checkH2cPort, checkKnativePrivileged,
  checkBidirectional, checkHugepages, checkScalerAddress];

// Checks parsed documents (objects with apiVersion and kind; null entries are skipped).
// Returns a list of {index, name, rule, message}.
export async function lintDocuments(docs) {
  const findings = [];
  const context = {
    services: docs.filter((d) => d?.apiVersion === "v1" && d?.kind === "Service"),
  };
  for (const [index, doc] of docs.entries()) {
    if (doc === null || doc === undefined) continue;
    const name = `${doc.kind ?? "?"}/${doc.metadata?.name ?? "?"}`;
    const report = (rule, message) => findings.push({ index, name, rule, message });
    if (typeof doc !== "object" || Array.isArray(doc)) {
      report("schema", "a document must be a mapping");
      continue;
    }
    const cls = await modelClass(doc.apiVersion, doc.kind);
    if (!cls) {
      report("unknown-kind", `no model for apiVersion ${doc.apiVersion} kind ${doc.kind}`);
      continue;
    }
    try {
      new cls(doc).validate();
    } catch (err) {
      for (const line of String(err.message).split(/,\s*(?=data)/)) report("schema", line);
    }
    findUnknownKeys(doc, shapeFor(doc.apiVersion, doc.kind), "", (path, key) =>
      report("unknown-key", `${path ? path + "." : ""}${key}: not a field of ${doc.kind}`));
    for (const rule of kPolicyRules) rule(doc, report, context);
  }
  return findings;
}
