# ACL policy for routecar sidecars: read the policy and the traffic splits, nothing else.
#
#   consul acl policy create -name routecar-sidecar -rules @deploy/consul/routecar-sidecar.hcl
#   consul acl token create -description "routecar sidecars" -policy-name routecar-sidecar
#
# The token's SecretID goes into the `routecar-secrets` Secret (key `consul-token`), which the
# sidecar reads as CONSUL_HTTP_TOKEN. If you change ROUTECAR_CONSUL_PREFIX, change the prefix here.
key_prefix "routecar/" {
  policy = "read"
}
