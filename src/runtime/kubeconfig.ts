// Where the operator's API credentials come from: an explicit file (--kubeconfig), else $KUBECONFIG (client-node
// merges a colon-separated list), else the pod's service account. Unlike loadFromDefault, a missing config never
// falls back to ~/.kube/config, so a pod cannot silently talk to a developer's cluster.
import { KubeConfig } from "@kubernetes/client-node";

export function loadKubeConfig(path?: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else if (env.KUBECONFIG) kc.loadFromDefault();
  else kc.loadFromCluster();
  return kc;
}
