# ACL policy for the people and pipelines that change routing: write the policy and the splits
# (`consul kv put`, `routecar policy push`, deploy/consul/seed.sh), nothing else.
#
#   consul acl policy create -name routecar-operator -rules @deploy/consul/routecar-operator.hcl
#   consul acl token create -description "routecar operators" -policy-name routecar-operator
key_prefix "routecar/" {
  policy = "write"
}
