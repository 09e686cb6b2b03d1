//! The command line of `examples/job_queue.rs`: flags, defaults and usage,
//! parsed by hand, so the example needs no dependency.

use std::process::ExitCode;

/// What the run looks like; every field has a command-line flag.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    /// Requests submitted in all (`--jobs`).
    pub(crate) jobs: u64,
    /// Worker processes (`--workers`).
    pub(crate) workers: usize,
    /// Producer threads (`--producers`).
    pub(crate) producers: usize,
    /// Mailbox capacity (`--capacity`); 0 is a rendezvous.
    pub(crate) capacity: usize,
    /// Corrupt requests, each of which crashes the worker that takes it
    /// (`--poison`).
    pub(crate) poison: u64,
    /// Unanswered deliveries a worker may hold at a time (`--prefetch`).
    pub(crate) prefetch: usize,
    /// Redeliveries before a request goes to dead letters
    /// (`--max-redeliveries`): each request is tried at most this + 1 times.
    pub(crate) max_redeliveries: u32,
    /// Percent of attempts that fail transiently and are retried later
    /// (`--flaky`).
    pub(crate) flaky: u64,
    /// Mean simulated generation time per request, in microseconds
    /// (`--work-us`); 0 measures the queue alone.
    pub(crate) work_us: u64,
    /// Keep the jobs mailbox in a log in this directory (`--durable`).
    pub(crate) durable: Option<&'static std::path::Path>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            jobs: 20_000,
            workers: 8,
            producers: 4,
            capacity: 256,
            poison: 2,
            prefetch: 2,
            max_redeliveries: 3,
            flaky: 2,
            work_us: 400,
            durable: None,
        }
    }
}

pub(crate) const USAGE: &str = "\
usage: job_queue [--jobs N] [--workers M] [--producers P] [--capacity C] [--poison K]
                 [--prefetch F] [--max-redeliveries R] [--flaky PCT] [--work-us US]
                 [--durable DIR]

  --jobs N              requests to submit in all                    (default 20000)
  --workers M           worker processes                             (default 8)
  --producers P         producer threads                             (default 4)
  --capacity C          mailbox capacity, 0 = rendezvous             (default 256)
  --poison K            corrupt requests that crash their worker     (default 2, at most N)
  --prefetch F          deliveries a worker holds unanswered, >= 1   (default 2)
  --max-redeliveries R  tries before dead letters: R + 1             (default 3)
  --flaky PCT           percent of tries failing transiently,        (default 2)
                        retried after a backoff (nack, Requeue::After)
  --work-us US          mean simulated work per request, in µs;      (default 400)
                        0 measures the queue alone; raw throughput:
                        --jobs 1000000 --workers 2 --poison 0 --flaky 0 --work-us 0
  --durable DIR         keep the jobs mailbox in a log in DIR: kill a run (Ctrl-C,
                        kill -9) and the next run with DIR recovers its requests";

impl Config {
    /// The configuration the process's arguments ask for, or the exit code to
    /// end with at once.
    pub(crate) fn from_env() -> Result<Config, ExitCode> {
        Config::from_args(std::env::args().skip(1)).map_err(|problem| {
            // Asked for with `--help`, the usage goes to stdout; after a
            // mistake, to stderr with the error, and the run fails.
            if problem.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {problem}\n");
            eprintln!("{USAGE}");
            ExitCode::from(2)
        })
    }

    /// Parses `--flag value` and `--flag=value` pairs. `Err("")` asks for the
    /// usage text (`--help`).
    pub(crate) fn from_args(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
        let mut config = Config::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                return Err(String::new());
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            let value = match inline.or_else(|| args.next()) {
                Some(value) => value,
                None => return Err(format!("{flag} needs a value")),
            };
            let number = |min: u64, max: u64| -> Result<u64, String> {
                match value.replace('_', "").parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(format!(
                        "{flag} wants a whole number from {min} to {max}, not {value:?}"
                    )),
                }
            };
            let any = u64::from(u32::MAX);
            match flag.as_str() {
                "--jobs" => config.jobs = number(0, any)?,
                "--workers" => config.workers = number(1, 1024)? as usize,
                "--producers" => config.producers = number(1, 1024)? as usize,
                "--capacity" => config.capacity = number(0, any)? as usize,
                "--poison" => config.poison = number(0, any)?,
                "--prefetch" => config.prefetch = number(1, 1024)? as usize,
                "--max-redeliveries" => config.max_redeliveries = number(0, 100)? as u32,
                "--flaky" => config.flaky = number(0, 100)?,
                "--work-us" => config.work_us = number(0, 1_000_000)?,
                // Leaked: one path for the whole run keeps `Config` `Copy`.
                "--durable" => {
                    let dir = std::path::PathBuf::from(value.clone());
                    config.durable = Some(Box::leak(dir.into_boxed_path()));
                }
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        config.poison = config.poison.min(config.jobs);
        Ok(config)
    }

    /// The users producer `id` submits for, `(first, count)`: the jobs split
    /// as evenly as possible, in consecutive ranges.
    pub(crate) fn users_of(&self, id: usize) -> (u64, u64) {
        let producers = self.producers as u64;
        let (per, extra, id) = (self.jobs / producers, self.jobs % producers, id as u64);
        (id * per + id.min(extra), per + u64::from(id < extra))
    }

    /// The user ids of the corrupt requests, sorted. Spread over the run's
    /// time: the k-th of K is made by producer `k % producers`, at fraction
    /// `(2k + 1) / 2K` of its range.
    pub(crate) fn poisoned_ids(&self) -> Vec<u64> {
        let k_all = self.poison;
        let mut ids: Vec<u64> = (0..k_all)
            .filter_map(|k| {
                let (first, count) = self.users_of((k % self.producers as u64) as usize);
                (count > 0).then(|| first + (2 * k + 1) * count / (2 * k_all))
            })
            .collect();
        ids.sort_unstable();
        ids.dedup(); // only with fewer jobs per producer than corrupt ones
        ids
    }
}
