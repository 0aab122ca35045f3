// Package workload checks the pod specs of workloads (Pod, Deployment,
// StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, ReplicationController)
// against every control of the Pod Security Standards baseline and
// restricted profiles, plus Vigil's hardening checks: read-only root
// filesystem, resource limits, automounted service-account tokens, a mounted
// container runtime socket, secrets in environment variables, images not
// pinned by digest and images from registries outside an allow-list.
//
// Each finding names the object and the exact field path, e.g.
// spec.template.spec.containers[0].securityContext.privileged.
package workload
