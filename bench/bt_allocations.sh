# bt_allocations DEPTH: the nodes bench/binary_trees.c allocates at that
# depth (the stretch tree of depth+1, the long-lived tree, and
# 2^(depth-d+4) trees of each depth d = 4, 6, ..., depth). Sourced by the
# instruction-count scripts, which divide by it.
bt_allocations() {
    awk -v m="$1" 'BEGIN {
        n = 2 ^ (m + 2) - 1 + 2 ^ (m + 1) - 1
        for (d = 4; d <= m; d += 2) n += 2 ^ (m - d + 4) * (2 ^ (d + 1) - 1)
        printf "%.0f", n }'
}
