# ACL policy for `routecar canary run`: read the canary specs, write the splits, the statuses and
# the locks under routecar/, and create its own sessions (one per controller replica) to hold the
# per-route locks.
#
#   consul acl policy create -name routecar-canary -rules @deploy/consul/routecar-canary.hcl
#   consul acl token create -description "routecar canary controller" -policy-name routecar-canary
key_prefix "routecar/" {
  policy = "write"
}
session_prefix "" {
  policy = "write"
}
