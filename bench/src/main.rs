//! `pve-ontap-bench`: the benchmark driver behind `make bench`.
//!
//! Starts a real control plane, one simulator per world and the release controller, runs the scenarios of
//! issue 5 (API economy, latency, throughput, idle cost, footprint), prints a Markdown report and writes it to
//! BENCHMARKS.md.

mod controller;
mod env;
mod objects;
mod report;
mod scenarios;
mod simstats;
mod world;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};

use crate::controller::Launch;
use crate::env::Env;
use crate::objects::{Kind, Tracker};
use crate::report::{Machine, Parameters, Results};
use crate::world::WorldSpec;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Economy,
    Latency,
    Throughput,
    Idle,
    Footprint,
}

#[derive(Parser, Debug)]
#[command(
    name = "pve-ontap-bench",
    about = "Benchmarks of the pve-ontap-controller release binary"
)]
struct Args {
    /// Smaller sizes for a quick look (about two minutes); the report says which mode ran.
    #[arg(long)]
    quick: bool,
    /// Scenarios to run (default: all). Idle and footprint need the throughput run's objects.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Sequential create → Ready runs per latency setting [default: 200, quick: 30].
    #[arg(long)]
    runs: Option<usize>,
    /// Added simulator latencies (ms per call) for the latency scenario.
    #[arg(long, value_delimiter = ',', default_value = "0,20")]
    latencies: Vec<u64>,
    /// VmDiskClones applied at once in the throughput scenario [default: 1000, quick: 100].
    #[arg(long)]
    clones: Option<usize>,
    /// VMs the throughput clones are spread over [default: 200, quick: 50].
    #[arg(long)]
    clone_vms: Option<usize>,
    /// Idle window in seconds [default: 60, quick: 10].
    #[arg(long)]
    idle_seconds: Option<u64>,
    /// Objects present for the footprint measurement [default: 10000, quick: 1000].
    #[arg(long)]
    objects: Option<usize>,
    /// Parallel reconciles per kind (the controller's default for VmDiskClone is 16).
    #[arg(long, default_value_t = 16)]
    workers: u16,
    /// The controller binary [default: <workspace>/target/release/pve-ontap-controller].
    #[arg(long)]
    controller_bin: Option<PathBuf>,
    /// Report file [default: <workspace>/BENCHMARKS.md].
    #[arg(long)]
    output: Option<PathBuf>,
    /// Print the report without writing the file.
    #[arg(long)]
    no_write: bool,
    /// Keep control plane state, logs and the controller log here instead of a temporary directory.
    #[arg(long)]
    workdir: Option<PathBuf>,
}

impl Args {
    fn wants(&self, s: Scenario) -> bool {
        self.only.is_empty() || self.only.contains(&s)
    }

    fn pick<T>(&self, explicit: Option<T>, full: T, quick: T) -> T {
        explicit.unwrap_or(if self.quick { quick } else { full })
    }
}

fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,pve_ontap_bench=info,testkit=info,kube_client::client::builder=off",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let root = testkit::paths::workspace_root();
    let tmp = tempfile::Builder::new()
        .prefix("pve-ontap-bench-")
        .tempdir()?;
    let workdir = args
        .workdir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&workdir)?;
    let launch = Launch {
        binary: args
            .controller_bin
            .clone()
            .unwrap_or_else(|| root.join("target/release/pve-ontap-controller")),
        kubeconfig: workdir.join("controller.kubeconfig"),
        log: workdir.join("controller.log"),
        workers: args.workers,
    };
    let params = Parameters {
        mode: if args.quick { "quick" } else { "full" },
        worlds: Vec::new(),
        latency_runs: args.pick(args.runs, 200, 30),
        clones: args.pick(args.clones, 1_000, 100),
        clone_vms: args.pick(args.clone_vms, 200, 50),
        idle_window: Duration::from_secs(args.pick(args.idle_seconds, 60, 10)),
        footprint_objects: args.pick(args.objects, 10_000, 1_000),
        workers: args.workers,
    };

    let mut specs = Vec::new();
    if args.wants(Scenario::Economy) {
        specs.extend([WorldSpec::small(), WorldSpec::large()]);
    }
    specs.push(WorldSpec::perf());
    let mut results = Results {
        params,
        ..Default::default()
    };
    results.params.worlds = specs
        .iter()
        .map(|s| {
            format!(
                "**{}**: {} volumes, {} nodes, {} VMs on {} NFS storage(s){}",
                s.name,
                s.volumes,
                s.nodes,
                s.vms,
                s.datastores,
                if s.instant {
                    ", jobs/tasks finish at once"
                } else {
                    ", default simulator job/task durations"
                }
            )
        })
        .collect();

    tracing::info!(workdir = %workdir.display(), "starting control plane, simulators and controller");
    let mut env = Env::start(specs, launch, &workdir).await?;
    results.machine = machine(&env).await;
    let outcome = scenarios(&args, &mut env, &mut results).await;
    if let Err(e) = &outcome {
        results.missing.push(format!(
            "run aborted: {e:#} (controller log: {})",
            workdir.join("controller.log").display()
        ));
    }
    env.shutdown().await;
    results.wall_time = started.elapsed();

    let text = report::render(&results);
    println!("{text}");
    if !args.no_write {
        let path = args
            .output
            .clone()
            .unwrap_or_else(|| root.join("BENCHMARKS.md"));
        let old = std::fs::read_to_string(&path).ok();
        std::fs::write(&path, report::merge_with_notes(&text, old.as_deref()))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if args.workdir.is_some() {
        drop(tmp);
    } else if outcome.is_err() {
        // Keep the logs of a failed run.
        eprintln!("logs kept in {}", tmp.keep().display());
    }
    outcome
}

async fn scenarios(args: &Args, env: &mut Env, results: &mut Results) -> anyhow::Result<()> {
    let p = results.params.clone();
    let client = env.admin.clone();
    if args.wants(Scenario::Economy) {
        for name in ["small", "large"] {
            tracing::info!(world = name, "scenario 1: API economy");
            let rows = scenarios::economy::run(env.world(name), client.clone()).await?;
            results.economy.extend(rows);
        }
    }
    let perf = WorldSpec::perf();
    let one_disk = perf.one_disk_vms();
    if args.wants(Scenario::Latency) {
        // The last 100 one-disk VMs; the throughput run uses the first ones.
        let vms = &one_disk[one_disk.len().saturating_sub(100)..];
        for &latency in &args.latencies {
            tracing::info!(
                latency_ms = latency,
                runs = p.latency_runs,
                "scenario 2: latency"
            );
            let r = scenarios::latency::run(
                env.world("perf"),
                env.controller(),
                client.clone(),
                p.latency_runs,
                latency,
                vms,
            )
            .await?;
            results.latency.push(r);
        }
    }
    let needs_objects = args.wants(Scenario::Idle) || args.wants(Scenario::Footprint);
    if !(args.wants(Scenario::Throughput) || needs_objects) {
        return Ok(());
    }
    let vms = &one_disk[..p.clone_vms.min(one_disk.len())];
    let tracker = Tracker::start(
        client.clone(),
        &env.world("perf").namespace,
        Kind::VmDiskClone,
    )
    .await;
    tracing::info!(
        clones = p.clones,
        vms = vms.len(),
        "scenario 3: throughput (create)"
    );
    let created = scenarios::throughput::create(
        env.world("perf"),
        env.controller(),
        &tracker,
        p.clones,
        vms,
        bulk_timeout(p.clones),
    )
    .await?;
    let ready = created.clones - created.failed;
    results.throughput = Some(created);
    if args.wants(Scenario::Idle) {
        env.world("perf")
            .settle(Duration::from_secs(2), Duration::from_secs(30))
            .await?;
        tracing::info!(window = ?p.idle_window, "scenario 4: idle cost");
        results.idle =
            Some(scenarios::idle::run(&env.worlds, env.controller(), ready, p.idle_window).await?);
    } else {
        results.missing.push("idle cost: not selected".into());
    }
    if args.wants(Scenario::Footprint) {
        tracing::info!(
            objects = p.footprint_objects,
            "scenario 5: footprint (controller restart)"
        );
        results.footprint =
            Some(scenarios::footprint::run(env, client.clone(), p.footprint_objects, ready).await?);
    } else {
        results.missing.push("footprint: not selected".into());
    }
    tracing::info!("scenario 3: throughput (delete)");
    results.throughput_delete = Some(
        scenarios::throughput::delete(
            env.world("perf"),
            &tracker,
            p.clones,
            bulk_timeout(p.clones),
        )
        .await?,
    );
    Ok(())
}

/// A generous bound for bulk runs: the run measures how long they take, the bound only stops a stuck run.
fn bulk_timeout(objects: usize) -> Duration {
    Duration::from_secs(120 + objects as u64)
}

/// Machine facts and versions for the report header.
async fn machine(env: &Env) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or_else(
            || "unknown".into(),
            |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0),
        );
    let kube_version = match env.admin.apiserver_version().await {
        Ok(v) => v.git_version,
        Err(e) => format!("unknown ({e})"),
    };
    let etcd = testkit::paths::kube_bin_dir().join("etcd");
    let etcd_version = command_line(etcd.to_str().unwrap_or("etcd"), &["--version"])
        .and_then(|o| {
            o.lines()
                .find_map(|l| l.strip_prefix("etcd Version:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown".into());
    let scenario = pve_ontap_sim::Scenario::default_scenario();
    Machine {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model,
        memory,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |s| s.trim().into()),
        controller_version: command_line(
            env.launch.binary.to_str().unwrap_or_default(),
            &["--version"],
        )
        .map_or_else(|| "unknown".into(), |s| s.trim().to_owned()),
        kube_version,
        etcd_version,
        rustc_version: command_line("rustc", &["--version"])
            .map_or_else(|| "unknown".into(), |s| s.trim().to_owned()),
        simulated: format!(
            "pve-ontap-sim, in-process (ONTAP {}, Proxmox VE {})",
            scenario.ontap.cluster.version, scenario.pve.version.version
        ),
    }
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
