// pint (Cloudflare's Prometheus rule linter): `pint lint alerts/` from the repository root.
//
// alerts/ also holds Prometheus and Alertmanager configs and promtool's unit tests
// (alerts/tests/), which are not rule files: without this, pint reports each of them
// as a broken rule file. Only the rendered rules are linted; promtool covers the
// rest (`promtool check config`, `amtool check-config`, `promtool test rules`).
// Patterns are anchored regular expressions matched against the paths pint is given,
// relative (alerts/...) or absolute (/src/azora-otel/alerts/...).
parser {
  schema  = "prometheus"
  include = [ "(.*/)?alerts/alert-rules\\.yml" ]
}
