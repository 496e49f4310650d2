//! The read side's access figures, on the benchmark organization (10,000
//! users, 1,000 projects, 200 groups, 50 custom roles, users in 0-5 groups,
//! project bindings from every source: `testkit`):
//!
//! 1. `check`: median and p99 per call over a random mix of (user,
//!    permission, project-or-none) triples, through `AccessModel::check` and
//!    through the `SharedAccessModel` read lock;
//! 2. checks per second of `check` against casbin-rs `enforce` on the
//!    equivalent RBAC-with-domains policy, on the same triples, after
//!    asserting that both answer alike on a sample;
//! 3. `who_can` on one project: median and p99 over 2,000 random pairs;
//! 4. the access model's memory (a counting allocator);
//! 5. catch-up of the RBAC SQL projection over the organization churned to
//!    1,000,000 events in a SQLite event store: events/s.
//!
//! Run: `cargo bench -p rolebook-projections --bench access`
//! (`ROLEBOOK_BENCH_SIZE=x10`: the ×10 organization, 100,000 users, 10,000
//! projects, 2,000 groups, 500 custom roles; `ROLEBOOK_BENCH_EVENTS`, `ROLEBOOK_BENCH_CHECKS`,
//! `ROLEBOOK_BENCH_CASBIN_CHECKS`, `ROLEBOOK_BENCH_SECONDS` shrink it for a
//! smoke run, 0 casbin checks skips casbin; `ROLEBOOK_BENCH_DIR` moves the
//! temporary store; `ROLEBOOK_BENCH_PAGE` changes the events per catch-up
//! transaction, 5,000 as the runner by default).

use std::collections::HashMap;
use std::hint::black_box;
use testkit::bench::env_usize;

use std::sync::Arc;
use std::time::{Duration, Instant};

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use domain::ids::{OrgId, ProjectId, UserId};
use domain::permissions::{Permission, Scope};
use domain::store::{EventStore, ExpectedVersion};
use domain::Organization;
use infra::SqliteEventStore;
use projections::access::{AccessModel, OrgAccess, SharedAccessModel};
use projections::rbac::RbacProjection;
use projections::runner::{decode, Runner, BATCH};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use testkit::{Size, Workload};

#[global_allocator]
static ALLOC: testkit::alloc::Counting = testkit::alloc::Counting;

fn mib(bytes: isize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The value at quantile `q` of a sorted slice.
fn quantile<T: Copy>(sorted: &[T], q: f64) -> T {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

/// One question: may `user` do `permission` (on `project`)?
#[derive(Debug, Clone, Copy)]
struct Triple {
    user: UserId,
    permission: Permission,
    project: Option<ProjectId>,
}

/// A random mix of questions, allowed and denied: 40% organization
/// permissions, 10% project permissions without a project (always denied),
/// 25% project permissions on a random project, 25% on a project where the
/// user has a binding of their own (direct, group or repository).
fn triples(w: &Workload, org: &OrgAccess, rng: &mut StdRng, n: usize) -> Vec<Triple> {
    let org_perms: Vec<Permission> = Permission::all()
        .filter(|p| p.scope() == Scope::Organization)
        .collect();
    let project_perms: Vec<Permission> = Permission::all()
        .filter(|p| p.scope() == Scope::Project)
        .collect();
    let mut bound: HashMap<UserId, Vec<ProjectId>> = HashMap::new();
    for (u, access) in &org.users {
        let mut ps: Vec<ProjectId> = access.projects.keys().copied().collect();
        ps.sort();
        bound.insert(*u, ps);
    }
    (0..n)
        .map(|_| {
            let user = w.users[rng.gen_range(0..w.users.len())];
            let project_perm = project_perms[rng.gen_range(0..project_perms.len())];
            match rng.gen_range(0..20) {
                0..=7 => Triple {
                    user,
                    permission: org_perms[rng.gen_range(0..org_perms.len())],
                    project: None,
                },
                8..=9 => Triple {
                    user,
                    permission: project_perm,
                    project: None,
                },
                10..=14 => Triple {
                    user,
                    permission: project_perm,
                    project: Some(w.projects[rng.gen_range(0..w.projects.len())]),
                },
                _ => {
                    let own = bound.get(&user).map(Vec::as_slice).unwrap_or(&[]);
                    let project = if own.is_empty() {
                        w.projects[rng.gen_range(0..w.projects.len())]
                    } else {
                        own[rng.gen_range(0..own.len())]
                    };
                    Triple {
                        user,
                        permission: project_perm,
                        project: Some(project),
                    }
                }
            }
        })
        .collect()
}

/// The cost of reading the clock twice (`Instant::now` then `elapsed`), the
/// median of many tries, in nanoseconds.
fn timer_overhead_ns() -> f64 {
    let mut samples: Vec<u64> = (0..200_000)
        .map(|_| {
            let t = Instant::now();
            t.elapsed().as_nanos() as u64
        })
        .collect();
    samples.sort_unstable();
    quantile(&samples, 0.5) as f64
}

/// Calls per batch for the batched latency figure.
const CALLS_PER_BATCH: usize = 64;

/// Latency of a call, two ways (both in nanoseconds, sorted):
///
/// - batched: the clock is read around each run of 64 consecutive calls
///   (different triples), the clock's own cost is subtracted and the rest
///   divided by 64. The clock (about 20 ns on this machine) then weighs
///   under 1 ns per call, so the median is accurate; but one slow call is
///   averaged with 63 others, so the p99 of batches understates the p99 of
///   single calls.
/// - per call: the clock is read around every call and its median cost
///   subtracted. This keeps each slow call visible (the p99 that counts),
///   at the price of a few ns of clock jitter in every sample.
struct Latency {
    batched: Vec<f64>,
    per_call: Vec<f64>,
}

fn latency(triples: &[Triple], overhead_ns: f64, mut f: impl FnMut(&Triple) -> bool) -> Latency {
    let mut allowed = 0u64;
    // Warm up: touch everything once.
    for t in triples {
        allowed += f(t) as u64;
    }
    let mut batched = Vec::with_capacity(triples.len() / CALLS_PER_BATCH);
    for chunk in triples.chunks_exact(CALLS_PER_BATCH) {
        let started = Instant::now();
        for t in chunk {
            allowed += f(black_box(t)) as u64;
        }
        let ns = started.elapsed().as_nanos() as f64;
        batched.push(((ns - overhead_ns) / CALLS_PER_BATCH as f64).max(0.0));
    }
    let mut per_call = Vec::with_capacity(triples.len());
    for t in triples {
        let started = Instant::now();
        let ok = f(black_box(t));
        let ns = started.elapsed().as_nanos() as f64;
        allowed += ok as u64;
        per_call.push((ns - overhead_ns).max(0.0));
    }
    black_box(allowed);
    batched.sort_by(f64::total_cmp);
    per_call.sort_by(f64::total_cmp);
    Latency { batched, per_call }
}

fn print_latency(what: &str, l: &Latency) {
    println!(
        "{what}: batched (64 calls per clock read) median {:.1} ns, p99 {:.1} ns; \
         per call (clock cost subtracted) median {:.1} ns, p99 {:.1} ns, p99.9 {:.1} ns",
        quantile(&l.batched, 0.5),
        quantile(&l.batched, 0.99),
        quantile(&l.per_call, 0.5),
        quantile(&l.per_call, 0.99),
        quantile(&l.per_call, 0.999),
    );
}

/// Calls per second over `triples`, one clock read around the whole run.
fn throughput(triples: &[Triple], mut f: impl FnMut(&Triple) -> bool) -> (f64, u64) {
    let mut allowed = 0u64;
    let started = Instant::now();
    for t in triples {
        allowed += f(black_box(t)) as u64;
    }
    let took = started.elapsed();
    (
        triples.len() as f64 / took.as_secs_f64(),
        black_box(allowed),
    )
}

// ---- casbin ------------------------------------------------------------------

/// RBAC with domains. A domain is a project id, or `org` for organization
/// permissions. `p` lines give a role's permissions (a permission name is
/// split at its last dot into object and action: `project.job` / `rerun`),
/// in domain `org` for organization permissions and `*` (any project) for
/// project permissions. `g` lines put a user in a role in a domain: `org`
/// for organization roles (direct or through a group), a project id for
/// direct, group and repository bindings (flattened to users), and `*` for
/// the project roles that organization roles grant on every project.
///
/// The matcher compares object and action first so that casbin evaluates
/// `g` (a graph search) only for the policy lines of the permission asked:
/// with `g` first every enforce searches the role graph once per policy
/// line, several times slower. `r.dom != "org"` keeps project permissions
/// out of the organization domain (our `check` denies a project permission
/// asked without a project).
const CASBIN_MODEL_WILDCARD_LOOKUP: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.obj == p.obj && r.act == p.act && (p.dom == r.dom || (p.dom == "*" && r.dom != "org")) && (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "*"))
"#;

/// The same policy, with the `*` domain of `g` lines resolved by casbin's
/// domain matching function (`key_match`) instead of a second `g` lookup.
const CASBIN_MODEL_DOMAIN_MATCHING: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.obj == p.obj && r.act == p.act && (p.dom == r.dom || (p.dom == "*" && r.dom != "org")) && g(r.sub, p.sub, r.dom)
"#;

fn split_permission(p: Permission) -> (&'static str, &'static str) {
    let name = p.name();
    let dot = name.rfind('.').expect("permission names have a dot");
    (&name[..dot], &name[dot + 1..])
}

fn role_key(r: domain::ids::RoleId) -> String {
    format!("role:{r}")
}

/// The casbin policy of an organization's state: (`p` lines, `g` lines).
fn casbin_policy(s: &Organization) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mut p_lines = Vec::new();
    for role in s.roles.values() {
        for perm in s.role_permissions(role.id).iter() {
            let (obj, act) = split_permission(perm);
            let dom = match perm.scope() {
                Scope::Organization => "org",
                Scope::Project => "*",
            };
            p_lines.push(vec![
                role_key(role.id),
                dom.to_string(),
                obj.to_string(),
                act.to_string(),
            ]);
        }
    }
    let mut g_lines = Vec::new();
    let mut g = |user: UserId, role, dom: String| {
        g_lines.push(vec![user.to_string(), role_key(role), dom]);
    };
    for user in s.users.keys() {
        for source in s.org_grants(*user) {
            g(*user, source.role(), "org".into());
            for mapped in s.mapped_project_roles(source.role()) {
                g(*user, *mapped, "*".into());
            }
        }
    }
    for p in s.projects.values() {
        let dom = p.id.to_string();
        for (u, r) in &p.user_bindings {
            if s.users.contains_key(u) {
                g(*u, *r, dom.clone());
            }
        }
        for (group, r) in &p.group_bindings {
            for m in &s.groups[group].members {
                if s.users.contains_key(m) {
                    g(*m, *r, dom.clone());
                }
            }
        }
        for (u, access) in &p.repo_access {
            // Repository access counts only for users with an org role.
            if s.users.contains_key(u) && s.has_org_role(*u) {
                g(*u, p.repo_mapping.role_for(*access), dom.clone());
            }
        }
    }
    p_lines.sort();
    p_lines.dedup();
    g_lines.sort();
    g_lines.dedup();
    (p_lines, g_lines)
}

async fn casbin_enforcer(
    model_text: &str,
    domain_matching: bool,
    p_lines: &[Vec<String>],
    g_lines: &[Vec<String>],
) -> Enforcer {
    let model = DefaultModel::from_str(model_text)
        .await
        .expect("casbin model");
    let mut e = Enforcer::new(model, MemoryAdapter::default())
        .await
        .expect("casbin enforcer");
    if domain_matching {
        e.get_role_manager()
            .write()
            .matching_fn(None, Some(casbin::function_map::key_match));
    }
    e.add_policies(p_lines.to_vec()).await.expect("p lines");
    e.add_grouping_policies(g_lines.to_vec())
        .await
        .expect("g lines");
    e
}

/// A triple as casbin's request: (sub, dom, obj, act).
struct Request {
    sub: String,
    dom: String,
    obj: &'static str,
    act: &'static str,
}

fn request(t: &Triple) -> Request {
    let (obj, act) = split_permission(t.permission);
    Request {
        sub: t.user.to_string(),
        dom: t
            .project
            .map_or_else(|| "org".to_string(), |p| p.to_string()),
        obj,
        act,
    }
}

fn enforce(e: &Enforcer, r: &Request) -> bool {
    e.enforce((r.sub.as_str(), r.dom.as_str(), r.obj, r.act))
        .expect("enforce")
}

/// This process's user and system CPU time so far, in seconds (Linux; zero
/// elsewhere): the catch-up figure is wall-clock, and this tells how much of
/// it was CPU work in the process (the rest: waiting for I/O or a core).
fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the command name (which is in parentheses): utime and
    // stime are the 12th and 13th, in clock ticks (100 per second).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

// ---- main --------------------------------------------------------------------

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let total_events = env_usize("ROLEBOOK_BENCH_EVENTS", 1_000_000);
    let checks = env_usize("ROLEBOOK_BENCH_CHECKS", 1_000_000);
    let casbin_checks = env_usize("ROLEBOOK_BENCH_CASBIN_CHECKS", 20_000);
    let seconds = env_usize("ROLEBOOK_BENCH_SECONDS", 20) as u64;
    // Events per catch-up transaction: the runner's page (5,000) unless
    // overridden, to see how the figure depends on it.
    let page_size = env_usize("ROLEBOOK_BENCH_PAGE", BATCH);
    let dir =
        tempfile::tempdir_in(std::env::var("ROLEBOOK_BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .unwrap();
    println!("# rolebook access benchmark");
    println!("{}", testkit::bench::machine_line());

    let size_name = std::env::var("ROLEBOOK_BENCH_SIZE").unwrap_or_else(|_| "benchmark".into());
    let size = Size::named(&size_name)
        .unwrap_or_else(|| panic!("ROLEBOOK_BENCH_SIZE={size_name}: expected benchmark or x10"));
    let started = Instant::now();
    let mut w = Workload::organization("bench", size, 1);
    let org: OrgId = w.org_id;
    println!(
        "workload: {size_name} organization ({} users, {} projects, {} groups, {} custom roles) = {} events (generated in {:.1?})",
        size.users,
        size.projects,
        size.groups,
        size.custom_roles,
        w.events.len(),
        started.elapsed()
    );

    // ---- 4. memory (built first, so the figure is not disturbed) ------------
    let before = testkit::alloc::live();
    let state_only = Organization::from_events(&w.events);
    let state_bytes = testkit::alloc::live() - before;
    drop(state_only);
    let before = testkit::alloc::live();
    let started = Instant::now();
    let mut model = AccessModel::new();
    let mut changes = Vec::new();
    for e in &w.events {
        model.apply(org, e, &mut changes);
        changes.clear();
    }
    let took = started.elapsed();
    drop(changes);
    let model_bytes = testkit::alloc::live() - before;
    assert_eq!(model.org(org).unwrap().state, w.state);
    println!(
        "access model: built from {} events in {:.2?} = {:.0} events/s; holds {:.1} MiB \
         (of which the domain state {:.1} MiB); {} users, {} (user, project) sets",
        w.events.len(),
        took,
        w.events.len() as f64 / took.as_secs_f64(),
        mib(model_bytes),
        mib(state_bytes),
        model.org(org).unwrap().users.len(),
        model
            .org(org)
            .unwrap()
            .users
            .values()
            .map(|u| u.projects.len())
            .sum::<usize>(),
    );

    // ---- 1. check ---------------------------------------------------------------
    let mut rng = StdRng::seed_from_u64(7);
    let qs = triples(&w, model.org(org).unwrap(), &mut rng, checks);
    let allowed = qs
        .iter()
        .filter(|t| model.check(org, t.user, t.permission, t.project))
        .count();
    println!(
        "check: {} triples, {:.1}% allowed ({} org / project permissions)",
        qs.len(),
        100.0 * allowed as f64 / qs.len() as f64,
        {
            let o = qs
                .iter()
                .filter(|t| t.permission.scope() == Scope::Organization)
                .count();
            format!("{o} / {}", qs.len() - o)
        }
    );
    let overhead = timer_overhead_ns();
    println!("clock: Instant::now + elapsed costs {overhead:.0} ns (median), subtracted");
    let l = latency(&qs, overhead, |t| {
        model.check(org, t.user, t.permission, t.project)
    });
    print_latency("check (AccessModel::check)", &l);
    let model: SharedAccessModel = Arc::new(parking_lot::RwLock::new(model));
    let l = latency(&qs, overhead, |t| {
        model.read().check(org, t.user, t.permission, t.project)
    });
    print_latency("check (SharedAccessModel: read lock per call)", &l);
    let guard = model.read();
    let (check_rate, _) = throughput(&qs, |t| guard.check(org, t.user, t.permission, t.project));
    drop(guard);
    println!(
        "check throughput: {check_rate:.0} checks/s over {} triples (one thread)",
        qs.len()
    );

    // ---- 2. against casbin ----------------------------------------------------
    let guard = model.read();
    let state = &guard.org(org).unwrap().state;
    let started = Instant::now();
    let (p_lines, g_lines) = casbin_policy(state);
    drop(guard);
    let sample: Vec<Triple> = qs[..casbin_checks.min(qs.len())].to_vec();
    let requests: Vec<Request> = sample.iter().map(request).collect();
    let verify = 2_000.min(sample.len());
    let mut casbin_rates = Vec::new();
    let variants = if sample.is_empty() {
        vec![]
    } else {
        vec![
            (
                "g(sub, role, dom) || g(sub, role, \"*\")",
                CASBIN_MODEL_WILDCARD_LOOKUP,
                false,
            ),
            (
                "g(sub, role, dom) with key_match domain matching",
                CASBIN_MODEL_DOMAIN_MATCHING,
                true,
            ),
        ]
    };
    for (name, text, domain_matching) in variants {
        let built = Instant::now();
        let e = rt.block_on(casbin_enforcer(text, domain_matching, &p_lines, &g_lines));
        println!(
            "casbin [{name}]: {} p lines, {} g lines loaded in {:.2?}",
            p_lines.len(),
            g_lines.len(),
            built.elapsed()
        );
        {
            let m = model.read();
            for (t, r) in sample[..verify].iter().zip(&requests) {
                let ours = m.check(org, t.user, t.permission, t.project);
                let theirs = enforce(&e, r);
                assert_eq!(ours, theirs, "casbin disagrees on {t:?}");
            }
        }
        println!("casbin [{name}]: same answers as check on {verify} triples");
        // Time casbin on the sample (bounded by ROLEBOOK_BENCH_SECONDS), then
        // ours on exactly the triples casbin got through.
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut done = 0;
        let mut allowed = 0u64;
        let mut per_call = Vec::with_capacity(requests.len());
        let run = Instant::now();
        for r in &requests {
            let t = Instant::now();
            allowed += enforce(&e, black_box(r)) as u64;
            per_call.push(t.elapsed());
            done += 1;
            if done % 256 == 0 && Instant::now() >= deadline {
                break;
            }
        }
        let took = run.elapsed();
        black_box(allowed);
        per_call.sort_unstable();
        let theirs = done as f64 / took.as_secs_f64();
        let guard = model.read();
        // Ours takes a millisecond over these triples: the median of 21
        // passes (the first one warms the caches like casbin's long run).
        let mut rates: Vec<f64> = (0..21)
            .map(|_| {
                throughput(&sample[..done], |t| {
                    guard.check(org, t.user, t.permission, t.project)
                })
                .0
            })
            .collect();
        drop(guard);
        rates.sort_by(f64::total_cmp);
        let ours = quantile(&rates, 0.5);
        println!(
            "casbin [{name}]: enforce {theirs:.0} checks/s over {done} triples \
             (median {:.1?}, p99 {:.1?}); check {ours:.0} checks/s on the same triples = {:.0}x \
             ({:.0}x against check's rate over all {} triples)",
            quantile(&per_call, 0.5),
            quantile(&per_call, 0.99),
            ours / theirs,
            check_rate / theirs,
            qs.len()
        );
        casbin_rates.push((name, theirs, ours));
        drop(e);
    }
    println!(
        "casbin section (policy from the state, both variants loaded, checked and timed): {:.1?}",
        started.elapsed()
    );
    drop(requests);

    // ---- 3. who_can --------------------------------------------------------------
    let project_perms: Vec<Permission> = Permission::all()
        .filter(|p| p.scope() == Scope::Project)
        .collect();
    // 2,000 pairs: enough that the p99 is not one unlucky call.
    let pairs: Vec<(ProjectId, Permission)> = (0..2_000)
        .map(|_| {
            (
                w.projects[rng.gen_range(0..w.projects.len())],
                project_perms[rng.gen_range(0..project_perms.len())],
            )
        })
        .collect();
    let mut timings = Vec::with_capacity(pairs.len());
    let mut holders = 0usize;
    {
        let guard = model.read();
        let o = guard.org(org).unwrap();
        for (project, permission) in &pairs {
            let t = Instant::now();
            let h = o.who_can(*permission, Some(*project));
            timings.push(t.elapsed());
            holders += h.len();
            black_box(h);
        }
    }
    timings.sort_unstable();
    println!(
        "who_can (one project, {} random pairs): median {:.1?}, p99 {:.1?}, max {:.1?}; {:.0} holders on average",
        pairs.len(),
        quantile(&timings, 0.5),
        quantile(&timings, 0.99),
        timings.last().unwrap(),
        holders as f64 / pairs.len() as f64
    );
    drop(model);

    // ---- 5. projection catch-up ------------------------------------------------
    let started = Instant::now();
    w.churn_to(total_events);
    let envelopes = w.envelopes();
    println!(
        "catch-up workload: churned to {} events (generated in {:.1?})",
        envelopes.len(),
        started.elapsed()
    );
    let store = rt
        .block_on(SqliteEventStore::open(
            &dir.path().join(infra::sqlite::EVENTS_FILE),
        ))
        .unwrap();
    let started = Instant::now();
    let mut version = 0u64;
    for chunk in envelopes.chunks(10_000) {
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        version = rt
            .block_on(store.append(&org.stream(), expected, chunk.to_vec()))
            .expect("append")
            .stream_version;
    }
    println!(
        "event store: {} events appended in {:.2?}",
        version,
        started.elapsed()
    );
    drop(envelopes);
    testkit::bench::settle(&dir.path().join(infra::sqlite::EVENTS_FILE));

    let model: SharedAccessModel = Default::default();
    let mut runner = Runner::open(
        RbacProjection::new(model.clone()),
        &dir.path().join("rolebook.db"),
    )
    .unwrap();
    let (mut reading, mut decoding, mut applying) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut stretch = (Instant::now(), 0u64);
    let mut stretches = Vec::new();
    // The runner's own path: a long backlog is folded in memory and written
    // in one transaction; anything left goes page by page.
    let t = Instant::now();
    runner = rt
        .block_on(runner.catch_up_backlog(&store, projections::runner::BULK_GAP))
        .unwrap();
    applying += t.elapsed();
    loop {
        let t = Instant::now();
        let page = rt
            .block_on(store.read_all(runner.position() + 1, page_size))
            .unwrap();
        reading += t.elapsed();
        let Some(last) = page.last().map(|e| e.global_position) else {
            break;
        };
        let t = Instant::now();
        let decoded = decode(page).unwrap();
        decoding += t.elapsed();
        let t = Instant::now();
        runner.apply_page(&decoded, last).unwrap();
        applying += t.elapsed();
        if last - stretch.1 >= 100_000 {
            let rate = (last - stretch.1) as f64 / stretch.0.elapsed().as_secs_f64();
            stretches.push(format!("{}k: {rate:.0}/s", last / 1000));
            stretch = (Instant::now(), last);
        }
    }
    let took = started.elapsed();
    let cpu_after = cpu_seconds();
    let events = runner.position();
    assert_eq!(events, version);
    assert_eq!(model.read().org(org).unwrap().state, w.state);
    println!(
        "rbac projection catch-up: {events} events in {took:.2?} = {:.0} events/s \
         (read {reading:.2?}, decode {decoding:.2?}, apply + commit {applying:.2?}; pages of {page_size})",
        events as f64 / took.as_secs_f64(),
    );
    println!(
        "  CPU time in the process meanwhile: user {:.1} s, system {:.1} s",
        cpu_after.0 - cpu_before.0,
        cpu_after.1 - cpu_before.1
    );
    println!(
        "  by stretch (events/s up to each position): {}",
        stretches.join(", ")
    );
    drop(runner);
    // What the catch-up wrote: the effective-permission changes the model
    // reported (one row written each), the tables, the files.
    let mut recount = AccessModel::new();
    let (mut rows_written, mut changes) = (0usize, Vec::new());
    for e in &w.events {
        recount.apply(org, e, &mut changes);
        rows_written += changes.len();
        changes.clear();
    }
    drop(recount);
    let conn = rusqlite::Connection::open(dir.path().join("rolebook.db")).unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    let size = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .map(|m| m.len())
            .unwrap_or(0) as f64
            / (1024.0 * 1024.0)
    };
    println!(
        "  effective-permission rows written: {rows_written} ({:.1} per event); rows now: \
         {} effective, {} role bindings, {} group members; rolebook.db {:.0} MiB (+ WAL {:.0} MiB)",
        rows_written as f64 / events as f64,
        count("rbac_effective_permissions"),
        count("rbac_role_bindings"),
        count("rbac_group_members"),
        size("rolebook.db"),
        size("rolebook.db-wal"),
    );
    drop(conn);
    let summary: Vec<String> = casbin_rates
        .iter()
        .map(|(name, theirs, ours)| format!("[{name}] {:.0}x", ours / theirs))
        .collect();
    println!("check vs casbin: {}", summary.join(", "));
}
