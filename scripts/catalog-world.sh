# Sourced by the catalog scripts: the options that run each catalog scenario on a small
# world (the larger ones on 24 cameras here; at scale with --cameras).
# Usage: extra=(); catalog_world NAME  (fills the array `extra`)
catalog_world() {
    extra=()
    case "$1" in
        smoke | partition-heal | region-failover | zone-outage | account-erasure) extra=(--cameras 24) ;;
    esac
}
