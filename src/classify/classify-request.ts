/**
 * The edge's half of classifier rules: ask the classifiers the rule walk reaches, and hand decide
 * features that carry their labels. decide stays pure; this is the only place that waits.
 */
import { withFeatures } from '../ingress/extract.js';
import type { ClassLabel, RequestFeatures } from '../ingress/features.js';
import type { CompiledPolicy } from '../policy/types.js';
import { classifiersNeeded } from '../routing/rules.js';
import type { ClassifierClient } from './client.js';

/**
 * `features` with `classes` filled in for every classifier a reached rule reads; the same object
 * when the policy has no classifier or no rule that reads one is reached. Classifiers needed by
 * one rule are asked together; a later rule's only once the earlier ones are known (its clauses
 * may depend on a route an earlier rule switched). Never rejects: no label is a label too.
 */
export async function classifyRequest(
  policy: CompiledPolicy,
  features: RequestFeatures,
  client: ClassifierClient,
): Promise<RequestFeatures> {
  const specs = policy.classifiers;
  if (specs === undefined) return features;
  let current = features;
  for (let needed = classifiersNeeded(policy.rules, current); needed.length > 0;) {
    const prompt = current.prompt;
    const text = prompt?.text() ?? '';
    const key = prompt?.hash() ?? '';
    const labels = await Promise.all(
      needed.map((name) => {
        const spec = specs.get(name);
        // compile() refuses rules naming undeclared classifiers; an unknown one gives no label.
        return spec === undefined ? undefined : client.classify(spec, text, key);
      }),
    );
    const classes = new Map<string, ClassLabel | undefined>(current.classes);
    needed.forEach((name, i) => classes.set(name, labels[i]));
    current = withFeatures(current, { classes });
    needed = classifiersNeeded(policy.rules, current);
  }
  return current;
}
