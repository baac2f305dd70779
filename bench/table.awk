# table.awk: turns the statistics of a bench/run.sh run ("key n median p99
# min max ci_low ci_high" lines from `vsbench-rest stats`) into the one Markdown table that
# `make bench` prints, with the ratios and the issue-7 targets checked.
# Variables: sizes, largest, conns, dtmems (space-separated, from run.sh).

{ n[$1] = $2; med[$1] = $3; p99[$1] = $4; mn[$1] = $5; mx[$1] = $6
  if ($7 != "-") { cilo[$1] = $7; cihi[$1] = $8 } }

function has(k) { return k in med }
function M(k) { return (k in med) ? med[k] : "" }
function P(k) { return (k in p99) ? p99[k] : "" }
function N(k) { return (k in n) ? n[k] : "" }

function t(x) { # microseconds, readable
    if (x == "" || x < 0) return "-"
    if (x < 1000) return sprintf("%.0f us", x)
    if (x < 1e6) return sprintf("%.2f ms", x / 1000)
    return sprintf("%.2f s", x / 1e6)
}

function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2fx", a / b) : "-" }

function row(name, cnt, m1, q1, m2, q2, r, v, target) {
    printf "| %-46s | %5s | %10s | %10s | %10s | %10s | %6s | %10s | %s |\n", \
        name, cnt, m1, q1, m2, q2, r, v, target
}

function section(title) { row("**" title "**", "", "", "", "", "", "", "", "") }

# virtsnapd (key RK) against direct libvirt (DK) and virsh (VK); the ratio
# is the median of paired per-round ratios (key PK) when there are some,
# else the ratio of the medians. A paired ratio comes with the 95 %
# confidence interval of its median (`vsbench-rest stats`): where it holds a
# target's bound, this run could not decide that target.
function vs(name, rk, dk, vk, target, pk,    rv, r) {
    rv = has(vk) ? t(M(vk)) : "-"
    r = has(pk) ? sprintf("%.2fx", M(pk)) : ratio(M(rk), M(dk))
    if (pk in cilo)
        target = target (target == "" ? "" : " ") sprintf("(95%% CI of the median ratio %.2f-%.2fx)", cilo[pk], cihi[pk])
    row(name, has(rk) ? N(rk) : "-", has(rk) ? t(M(rk)) : "-", has(rk) ? t(P(rk)) : "-",
        has(dk) ? t(M(dk)) : "-", has(dk) ? t(P(dk)) : "-", r, rv, target)
}

function pratio(rk, dk, pk) { return has(pk) ? M(pk) : (M(dk) > 0 ? M(rk) / M(dk) : 1e9) }

# " (95% CI of the median lo-hi x)" of paired ratio PK, numbers in format F.
function ci(pk, f) {
    return (pk in cilo) ? sprintf(" (95%% CI of the median " f "-" f "x)", cilo[pk], cihi[pk]) : ""
}

# "; 95% CI of the median lo-hi" of paired ratio PK, and whether bound B is inside it.
function decided(pk, b) {
    if (!(pk in cilo)) return ""
    return sprintf("; 95%% CI of the median %.2f-%.2fx", cilo[pk], cihi[pk]) \
        (cilo[pk] <= b && b < cihi[pk] ? ", which holds the bound: not decided by this run" : "")
}

# Section 1's create split in two (run.sh's pair()) for keys under P:
# virtsnapd's own part, and libvirt's call inside the daemon against
# vsbench-direct's (WHERE: what the two calls ran on).
function own_rows(p, kind, where) {
    if (!has(p ".own.create")) return
    row("  of which virtsnapd's own (total - its libvirt call)", N(p ".own.create"),
        t(M(p ".own.create")), t(P(p ".own.create")), "", "",
        sprintf("%.3fx", M(p ".pairown.create")), "",
        "REST total / libvirt's call in the daemon" ci(p ".pairown.create", "%.3f"))
    row("  libvirt's call inside virtsnapd vs direct", N(p ".rest.libvirt"),
        t(M(p ".rest.libvirt")), t(P(p ".rest.libvirt")), t(M(p ".direct.create")),
        t(P(p ".direct.create")), sprintf("%.2fx", M(p ".pairlibvirt.create")), "",
        where ci(p ".pairlibvirt.create", "%.2f"))
    summary[++nsum] = sprintf("  the create split, " kind ": virtsnapd's own part %.3fx of its libvirt call%s; that call %.2fx of direct's%s",
        M(p ".pairown.create"), ci(p ".pairown.create", "%.3f"), M(p ".pairlibvirt.create"),
        ci(p ".pairlibvirt.create", "%.2f"))
}

# The A/A control of section 1's embedded rounds (run.sh's pair()): a
# second vsbench-direct making the same call OP on a QEMU process of its
# own, against the first. Its spread is what two QEMU processes differ by
# with no virtsnapd in between: the noise floor of the REST/direct ratio.
function aa_row(p, op) {
    if (!has(p ".pairaa." op)) return
    row("  A/A: direct on a second QEMU vs direct", N(p ".direct2." op), t(M(p ".direct2." op)),
        t(P(p ".direct2." op)), t(M(p ".direct." op)), t(P(p ".direct." op)),
        sprintf("%.2fx", M(p ".pairaa." op)), "",
        "the same calls on two QEMU processes" ci(p ".pairaa." op, "%.2f"))
    summary[++nsum] = sprintf("  the noise floor, " op ": a second direct client %.2fx of the first%s",
        M(p ".pairaa." op), ci(p ".pairaa." op, "%.2f"))
}

# Create and revert on real QEMU for keys under P ("qemu": embedded drivers,
# "sys": one libvirtd), under section title TITLE; KIND names the back end
# in the targets' summary, WHERE what the two libvirt calls ran on.
function qemu_rows(p, title, kind, where,    i, op, rk, dk, pk, g) {
    if (!has(p ".rest.create") && !has(p ".direct.create")) return
    section(title)
    for (i = 1; i <= 2; i++) {
        op = i == 1 ? "create" : "revert"
        rk = p ".rest." op; dk = p ".direct." op; pk = p ".pair." op
        g = pratio(rk, dk, pk)
        vs("snapshot " op (op == "create" ? " (POST + task wait)" : " (restarts QEMU)"), rk, dk,
           p ".virsh." op, "<= 1.05x: " note3("REST " op " within 1.05x of direct libvirt, " kind " (" sprintf("%.2fx", g) decided(pk, 1.05) ")", verdict_ci(g, pk, 1.05)), pk)
        if (op == "create")
            own_rows(p, kind, where)
        aa_row(p, op)
    }
    if (has(p ".direct.create_paused"))
        row("guest paused during create (events)", N(p ".direct.create_paused"), "", "",
            t(M(p ".direct.create_paused")), t(P(p ".direct.create_paused")), "", "", "")
}

function verdict(ok) { return ok ? "MET" : "MISSED" }

function note(target, ok) { summary[++nsum] = verdict(ok) ": " target; return verdict(ok) }

# A bound B on a paired ratio whose median is G: MET or MISSED only when the
# 95 % interval of the median (PK's) lies wholly on one side of it; NOT
# DECIDED when it holds the bound, or when there were too few rounds for one.
function verdict_ci(g, pk, b) {
    if (!(pk in cilo)) return "NOT DECIDED"
    if (cihi[pk] <= b) return "MET"
    if (cilo[pk] > b) return "MISSED"
    return "NOT DECIDED"
}

function note3(target, v) { summary[++nsum] = v ": " target; return v }

# A bound B on a figure each run measured once (key K: every run's value):
# MET or MISSED only when all runs agree.
function verdict_runs(k, b) {
    if (!(k in mx)) return "NOT DECIDED"
    if (mx[k] < b) return "MET"
    if (mn[k] >= b) return "MISSED"
    return "NOT DECIDED"
}

END {
    ns = split(sizes, S, " "); small = S[1]
    print ""
    row("measurement", "n", "virtsnapd", "p99", "direct", "p99", "ratio", "virsh", "target")
    print "|" "------------------------------------------------|-------|------------|------------|------------|------------|--------|------------|--------|"

    section("1. Overhead over libvirt: test:///default, tree of " small)
    vs("snapshot lookup", "scale.lookup." small ".rest", "scale.lookup." small ".direct")
    vs("children listing (100 children)", "scale.children." small ".rest", "scale.children." small ".direct")
    vs("roots listing", "scale.roots." small ".rest", "scale.roots." small ".direct")
    vs("VM lookup (current snapshot, count)", "scale.vm." small ".rest", "scale.vm." small ".direct")
    vs("snapshot create (POST + task wait)", "test.rest.create", "test.direct.create")
    vs("snapshot revert", "test.rest.revert", "test.direct.revert")

    qemu_rows("qemu", "1. Overhead over libvirt: embedded QEMU, running 64 MiB guest (ratio: median of per-round ratios)",
              "embedded", "two QEMU processes")
    qemu_rows("sys", "1b. The same with libvirt in libvirtd (as on qemu:///system): one guest, virtsnapd and direct taking turns on it",
              "libvirtd", "the same QEMU process")

    section("2. Scale: test:///default (\"100\" = 101: a root and its 100 children)")
    split("children lookup roots vm", O, " ")
    split("children listing (100)|snapshot lookup|roots listing|VM lookup", L, "|")
    for (o = 1; o <= 4; o++) {
        for (i = 1; i <= ns; i++) {
            rk = "scale." O[o] "." S[i] ".rest"
            target = ""
            if (i > 1 && has(rk) && has("scale." O[o] "." small ".rest")) {
                g = M(rk) / M("scale." O[o] "." small ".rest")
                target = sprintf("%.2fx of @%s", g, small)
                if (S[i] == largest && largest >= 10000 && (O[o] == "children" || O[o] == "lookup"))
                    target = target " (<= 1.5x): " note(L[o] " @" largest " within 1.5x of @" small sprintf(" (%.2fx)", g), g <= 1.5)
            }
            vs(L[o] " @ " S[i], rk, "scale." O[o] "." S[i] ".direct", "", target)
        }
    }
    all_s = 0; all_n = 0
    for (i = 1; i <= ns; i++) {
        k = "build." S[i]
        if (!has(k)) continue
        total = M(k ".total_s"); cnt = M(k ".count"); all_s += total; all_n += cnt
        row("API snapshot create, growing to " S[i], N(k), t(M(k)), t(P(k)), "", "", "", "",
            sprintf("%d creates (+ reverts) in %.1f s, %.0f/s", cnt, total, cnt / total))
    }
    if (all_n > 0)
        row("API: all " all_n " creates of the " largest "-snapshot tree", "", "", "", "", "", "", "",
            sprintf("%.1f s (%.0f creates/s, POST + task wait, one client)", all_s, all_n / all_s))
    # Resident memory: after growing to each size, then at the largest size
    # after listing all its snapshots and after 16 connections of lookups.
    # The target is checked against the highest of the largest size's three.
    worst = 0
    for (i = 0; i <= ns + 2; i++) {
        size = i <= ns ? (i ? S[i] : 0) : largest
        what = i <= ns ? size : (i == ns + 1 ? "all" : "load")
        k = "rss." what; dk = "rss.direct." what; target = ""
        if (what == "load") dk = "" # (vsbench-direct does nothing in that phase)
        if (!has(k)) continue
        hwm = has("rss.peak." what) ? M("rss.peak." what) : M(k)
        if (hwm < M(k)) hwm = M(k)
        if (size == largest && largest >= 10000) {
            target = "< 64 MiB: " verdict(hwm < 64)
            if (hwm > worst) worst = hwm
        }
        if (has("rss.peak." what))
            target = sprintf("peak in the phase %.1f MiB", hwm) (target != "" ? "; " target : "")
        label = i == 0 ? "no VM" : size " snapshots"
        if (what == "all") label = label ", listed all x3"
        if (what == "load") label = label ", 16-conn load"
        row("resident memory (VmRSS), " label, "", sprintf("%.1f MiB", M(k)), "",
            has(dk) ? sprintf("%.1f MiB", M(dk)) : "-", "", has(dk) ? ratio(M(k), M(dk)) : "-",
            "", (has(dk) ? sprintf("+%.1f MiB over direct", M(k) - M(dk)) : "") \
            (has(dk) && target != "" ? "; " : "") target)
    }
    if (worst > 0)
        note(sprintf("RSS with %d snapshots under 64 MiB, libvirt's driver inside virtsnapd (highest of 3 phases, peaks included: %.1f MiB)", largest, worst), worst < 64)
    # The same with libvirt in a libvirtd of its own (virtsnapd a client, as
    # on qemu:///system): virtsnapd's VmRSS, libvirtd's in the direct column.
    lworst = 0
    for (j = 0; j <= 2; j++) {
        what = j == 0 ? largest : (j == 1 ? "all" : "load")
        k = "rss.lvd." what; dk = "rss.libvirtd." what
        if (!has(k)) continue
        hwm = has("rss.lvd.peak." what) ? M("rss.lvd.peak." what) : M(k)
        if (hwm < M(k)) hwm = M(k)
        if (hwm > lworst) lworst = hwm
        label = largest " snapshots" (what == "all" ? ", listed all x3" : (what == "load" ? ", 16-conn load" : ""))
        row("VmRSS, libvirt in libvirtd: " label, "", sprintf("%.1f MiB", M(k)), "",
            has(dk) ? sprintf("%.1f MiB", M(dk)) : "-", "", "", "",
            (has("rss.lvd.peak." what) ? sprintf("peak in the phase %.1f MiB; ", hwm) : "") \
            "direct column: libvirtd; < 64 MiB: " verdict(hwm < 64))
    }
    if (lworst > 0)
        note(sprintf("RSS with %d snapshots under 64 MiB, libvirt in libvirtd as on qemu:///system (highest of 3 phases, peaks included: %.1f MiB)", largest, lworst), lworst < 64)
    k = "scale.load.c16"
    if (has(k ".rps"))
        row("GET snapshot @ " largest ", 16 conn", N(k ".rps"), sprintf("%.0f req/s", M(k ".rps")),
            t(P(k ".lat")), "", "", "", "", "p50 " t(M(k ".lat")) \
            (has(k ".cpu_us") ? sprintf("; CPU/req: daemon %.0f us + client %.0f us", M(k ".cpu_us"), M(k ".client_cpu_us")) : ""))

    section("3. Throughput: embedded QEMU, VM tp (shut off, 10 snapshots); req/s = median of runs")
    nc = split(conns, C, " ")
    for (j = 1; j <= 2; j++) {
        what = j == 1 ? "vm" : "snap"
        for (i = 1; i <= nc; i++) {
            k = "tp." what ".c" C[i]
            target = "p50 " t(M(k ".lat"))
            if (has(k ".cpu_us"))
                target = target sprintf("; CPU/req: daemon %.0f us + client %.0f us (2 free cores: ~%.0f/s)",
                                        M(k ".cpu_us"), M(k ".client_cpu_us"), 2e6 / (M(k ".cpu_us") + M(k ".client_cpu_us")))
            if (mx[k ".failed"] > 0)
                target = target sprintf("; up to %d requests a run lost to broken connections (sent again)", mx[k ".failed"])
            if (what == "snap" && C[i] == 16)
                target = target "; >= 10,000 req/s: " note(sprintf("GET snapshot at 16 connections >= 10,000 req/s (%.0f)", M(k ".rps")), M(k ".rps") >= 10000)
            row((what == "vm" ? "GET /vms/tp" : "GET /vms/tp/snapshots/s5") ", " C[i] " conn", N(k ".rps"),
                sprintf("%.0f req/s", M(k ".rps")), t(P(k ".lat")), "", "", "", "", target)
        }
    }
    for (i = 1; i <= 2; i++) {
        k = i == 1 ? "rv.snap.c16" : "rv.snap.c1"
        if (!has(k ".rps")) continue
        target = "p50 " t(M(k ".lat")) sprintf(", %d reverts", M(k ".reverts") * N(k ".reverts"))
        if (has(k ".p99run"))
            target = target sprintf("; each run's p99 %s-%s", t(mn[k ".p99run"]), t(mx[k ".p99run"]))
        if (mx[k ".failed"] > 0)
            target = target sprintf("; up to %d requests a run lost to broken connections (sent again)", mx[k ".failed"])
        if (i == 1)
            target = target "; p99 < 5 ms: " note3("GET snapshot p99 under 5 ms while another VM reverts (" t(P(k ".lat")) " over all runs" \
                (has(k ".p99run") ? sprintf("; each run's %s-%s", t(mn[k ".p99run"]), t(mx[k ".p99run"])) : "") ")", \
                has(k ".p99run") ? verdict_runs(k ".p99run", 5000) : verdict(P(k ".lat") < 5000))
        row("GET snapshot, " (i == 1 ? 16 : 1) " conn, while g64 reverts", N(k ".rps"),
            sprintf("%.0f req/s", M(k ".rps")), t(P(k ".lat")), "", "", "", "", target)
    }

    nd = split(dtmems, D, " ")
    if (nd > 0)
        section("4. Downtime: embedded QEMU, running guest (serial gaps on both sides; direct's lifecycle events beside)")
    for (i = 1; i <= nd; i++) {
        r = "dt." D[i] ".rest."; d = "dt." D[i] ".direct."
        mem = D[i] >= 1024 ? (D[i] / 1024) " GiB" : D[i] " MiB"
        vs(mem ": guest paused while a snapshot is taken", r "create_stall", d "create_stall", "",
           "direct by lifecycle events " t(M(d "create_paused")))
        vs(mem ": snapshot create, total", r "create", d "create", "", "", "dt." D[i] ".pair.create")
        vs(mem ": guest down during a revert", r "revert_stall", d "revert_stall", "",
           "direct by lifecycle events " t(M(d "revert_down")))
        vs(mem ": revert, total", r "revert", d "revert", "", "", "dt." D[i] ".pair.revert")
    }

    section("5. Live vs classic snapshots through virtsnapd (virtsnapd: live; direct: classic, REST)")
    for (i = 1; i <= nd; i++) {
        l = "dt." D[i] ".live."; r = "dt." D[i] ".rest."
        if (!has(l "create")) continue
        mem = D[i] >= 1024 ? (D[i] / 1024) " GiB" : D[i] " MiB"
        vs(mem ": guest's serial gap while a snapshot is taken", l "create_stall", r "create_stall")
        vs(mem ": snapshot create, total (task ends)", l "create", r "create")
        ok = M(l "revert") <= 1.5 * M(r "revert")
        vs(mem ": revert, total", l "revert", r "revert", "", "<= 1.5x classic: " \
           note(mem " live revert within 1.5x of classic (" ratio(M(l "revert"), M(r "revert")) ")", ok))
    }

    print ""
    print "Targets (issues 7 and 8):"
    for (i = 1; i <= nsum; i++) print "  " summary[i]
}
