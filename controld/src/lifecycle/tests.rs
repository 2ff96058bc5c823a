//! Every transition Supervisor documents, as rows: the state before, what happens, the state
//! after and the effects, in order. Log lines are left out of the comparison (they are text for
//! people); everything controld acts on is compared exactly.

#![allow(clippy::panic, clippy::unwrap_used)]

use super::*;
use ProcessState as S;

const NOW: u64 = 1_000_000;
const C: Child = Child {
    id: ChildId(7),
    pid: Pid::from_raw(4242),
};
const OTHER: ChildId = ChildId(8);

fn settings(autorestart: AutoRestart) -> Settings<'static> {
    Settings {
        namespec: "app",
        startsecs: 1,
        startretries: 3,
        autorestart,
        exitcodes: &[0, 2],
        stopsignal: AllowedSignal::Int,
        stopwaitsecs: 10,
        stopasgroup: true,
        killasgroup: false,
    }
}

fn at(phase: Phase) -> Lifecycle {
    Lifecycle {
        phase,
        laststart: NOW - 100,
        ..Lifecycle::default()
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn run(life: &mut Lifecycle, s: &Settings<'_>, shutting_down: bool, input: Input) -> Vec<Effect> {
    run_in(life, s, shutting_down, true, input)
}

fn run_in(
    life: &mut Lifecycle,
    s: &Settings<'_>,
    shutting_down: bool,
    spawnable: bool,
    input: Input,
) -> Vec<Effect> {
    let ctx = Ctx {
        now: NOW,
        shutting_down,
        spawnable,
    };
    let fx = life
        .step(s, ctx, input.clone())
        .unwrap_or_else(|r| panic!("{input:?} refused in {:?}: {r}", life.phase));
    // The table names each state entered; where from, and the pid, are checked on their own
    // (`state_effects_say_where_from_and_the_pid`).
    fx.into_iter()
        .filter(|e| !matches!(e, Effect::Log(..)))
        .map(|e| match e {
            Effect::State { to, .. } => State(to),
            other => other,
        })
        .collect()
}

/// A state entered, as the table writes it.
#[allow(non_snake_case)]
fn State(to: ProcessState) -> Effect {
    Effect::State {
        from: to,
        to,
        pid: None,
    }
}

struct Row {
    what: &'static str,
    before: Lifecycle,
    settings: Settings<'static>,
    shutting_down: bool,
    spawnable: bool,
    input: Input,
    after: Phase,
    effects: Vec<Effect>,
}

fn row(
    what: &'static str,
    before: Lifecycle,
    input: Input,
    after: Phase,
    effects: Vec<Effect>,
) -> Row {
    Row {
        what,
        before,
        settings: settings(AutoRestart::Unexpected),
        shutting_down: false,
        spawnable: true,
        input,
        after,
        effects,
    }
}

fn exit(code: i32) -> Input {
    Input::Exited {
        id: C.id,
        status: ExitStatus::Code(code),
    }
}

fn with_backoff(phase: Phase, backoff: u32) -> Lifecycle {
    Lifecycle {
        backoff,
        ..at(phase)
    }
}

fn spawning() -> Phase {
    Phase::Spawning {
        stop_requested: false,
    }
}

fn stop_requested() -> Phase {
    Phase::Spawning {
        stop_requested: true,
    }
}

fn refused(permanent: bool) -> Input {
    Input::SpawnRefused {
        reason: "can't find command 'x'".into(),
        permanent,
    }
}

fn stop_signal() -> Effect {
    Effect::Signal {
        id: C.id,
        signal: AllowedSignal::Int,
        group: true,
    }
}

fn table() -> Vec<Row> {
    use Effect::{Arm, Disarm, Spawn};
    use TimerKind::*;
    let restart = || vec![State(S::Exited), State(S::Starting), Spawn];
    let mut rows = vec![
        // start
        row(
            "start from STOPPED",
            at(Phase::Stopped),
            Input::Start,
            spawning(),
            vec![Disarm, State(S::Starting), Spawn],
        ),
        row(
            "start from EXITED",
            at(Phase::Exited),
            Input::Start,
            spawning(),
            vec![Disarm, State(S::Starting), Spawn],
        ),
        row(
            "start from FATAL",
            with_backoff(Phase::Fatal, 4),
            Input::Start,
            spawning(),
            vec![Disarm, State(S::Starting), Spawn],
        ),
        // startsecs
        row(
            "spawned, startsecs=1: STARTING with its timer",
            at(spawning()),
            Input::Spawned(C),
            Phase::Starting(C),
            vec![Arm(StartSecs, secs(1))],
        ),
        row(
            "up for startsecs: RUNNING",
            with_backoff(Phase::Starting(C), 2),
            Input::Timer(StartSecs),
            Phase::Running(C),
            vec![State(S::Running)],
        ),
        row(
            "exited before startsecs: BACKOFF 1s",
            at(Phase::Starting(C)),
            exit(0),
            Phase::Backoff,
            vec![Disarm, State(S::Backoff), Arm(Backoff, secs(1))],
        ),
        // startretries, growing backoff
        row(
            "third failure: BACKOFF 3s",
            with_backoff(Phase::Starting(C), 2),
            exit(1),
            Phase::Backoff,
            vec![Disarm, State(S::Backoff), Arm(Backoff, secs(3))],
        ),
        row(
            "failure past startretries: FATAL",
            with_backoff(Phase::Starting(C), 3),
            exit(1),
            Phase::Fatal,
            vec![Disarm, State(S::Fatal)],
        ),
        row(
            "backoff over: spawn again",
            with_backoff(Phase::Backoff, 1),
            Input::Timer(Backoff),
            spawning(),
            vec![State(S::Starting), Spawn],
        ),
        // spawn refused, for now and for good
        row(
            "spawn refused for now: BACKOFF",
            at(spawning()),
            refused(false),
            Phase::Backoff,
            vec![State(S::Backoff), Arm(Backoff, secs(1))],
        ),
        row(
            "spawn refused for good: FATAL at once",
            at(spawning()),
            refused(true),
            Phase::Fatal,
            vec![State(S::Fatal)],
        ),
        row(
            "spawn refused after a stop: STOPPED",
            at(stop_requested()),
            refused(false),
            Phase::Stopped,
            vec![State(S::Stopped)],
        ),
        // autorestart against exitcodes (unexpected is the default)
        row(
            "unexpected, code in exitcodes: EXITED",
            at(Phase::Running(C)),
            exit(2),
            Phase::Exited,
            vec![State(S::Exited)],
        ),
        row(
            "unexpected, code not in exitcodes: restart",
            at(Phase::Running(C)),
            exit(1),
            spawning(),
            restart(),
        ),
        row(
            "unexpected, killed by a signal: restart",
            at(Phase::Running(C)),
            Input::Exited {
                id: C.id,
                status: ExitStatus::Signal(9),
            },
            spawning(),
            restart(),
        ),
        // stop, stopwaitsecs
        row(
            "stop RUNNING: stopsignal, Kill timer",
            at(Phase::Running(C)),
            Input::Stop,
            Phase::Stopping(C),
            vec![State(S::Stopping), Arm(Kill, secs(10)), stop_signal()],
        ),
        row(
            "stop during STARTING",
            at(Phase::Starting(C)),
            Input::Stop,
            Phase::Stopping(C),
            vec![State(S::Stopping), Arm(Kill, secs(10)), stop_signal()],
        ),
        row(
            "stopwaitsecs over: SIGKILL (killasgroup)",
            at(Phase::Stopping(C)),
            Input::Timer(Kill),
            Phase::Stopping(C),
            vec![Effect::Signal {
                id: C.id,
                signal: AllowedSignal::Kill,
                group: false,
            }],
        ),
        row(
            "exit during STOPPING: STOPPED",
            at(Phase::Stopping(C)),
            exit(1),
            Phase::Stopped,
            vec![Disarm, State(S::Stopped)],
        ),
        row(
            "stop during BACKOFF: STOPPED at once",
            at(Phase::Backoff),
            Input::Stop,
            Phase::Stopped,
            vec![Disarm, State(S::Stopped)],
        ),
        row(
            "stop while the spawn is in flight",
            at(spawning()),
            Input::Stop,
            stop_requested(),
            vec![State(S::Stopping)],
        ),
        row(
            "spawn answers after a stop: stop it",
            at(stop_requested()),
            Input::Spawned(C),
            Phase::Stopping(C),
            vec![State(S::Stopping), Arm(Kill, secs(10)), stop_signal()],
        ),
        row(
            "stop during STOPPING: nothing more",
            at(Phase::Stopping(C)),
            Input::Stop,
            Phase::Stopping(C),
            vec![],
        ),
        row(
            "stop while a stop waits for the spawn",
            at(stop_requested()),
            Input::Stop,
            stop_requested(),
            vec![],
        ),
        // stale inputs change nothing
        row(
            "StartSecs timer after RUNNING",
            at(Phase::Running(C)),
            Input::Timer(StartSecs),
            Phase::Running(C),
            vec![],
        ),
        row(
            "Kill timer after STOPPED",
            at(Phase::Stopped),
            Input::Timer(Kill),
            Phase::Stopped,
            vec![],
        ),
        row(
            "Backoff timer after STOPPED",
            at(Phase::Stopped),
            Input::Timer(Backoff),
            Phase::Stopped,
            vec![],
        ),
        row(
            "exit of another child",
            at(Phase::Running(C)),
            Input::Exited {
                id: OTHER,
                status: ExitStatus::Code(1),
            },
            Phase::Running(C),
            vec![],
        ),
        row(
            "exit with no child",
            at(Phase::Backoff),
            exit(1),
            Phase::Backoff,
            vec![],
        ),
        // adoption by a restarted controld
        row(
            "adopted, up for startsecs: RUNNING",
            at(Phase::Stopped),
            Input::Adopted {
                child: C,
                started: NOW - 5,
            },
            Phase::Running(C),
            vec![State(S::Running)],
        ),
        row(
            "adopted, younger than startsecs: STARTING",
            at(Phase::Stopped),
            Input::Adopted {
                child: C,
                started: NOW,
            },
            Phase::Starting(C),
            vec![State(S::Starting), Arm(StartSecs, secs(1))],
        ),
        row(
            "exited while controld was down: autorestart",
            Lifecycle::default(),
            Input::ExitedAway(ExitStatus::Code(1)),
            spawning(),
            restart(),
        ),
        row(
            "exited away, but already started again",
            at(Phase::Stopped),
            Input::ExitedAway(ExitStatus::Code(1)),
            Phase::Stopped,
            vec![],
        ),
    ];
    let mut always = row(
        "autorestart=true, expected code: restart",
        at(Phase::Running(C)),
        exit(0),
        spawning(),
        restart(),
    );
    always.settings = settings(AutoRestart::Always);
    let mut never = row(
        "autorestart=false, unexpected code: EXITED",
        at(Phase::Running(C)),
        exit(1),
        Phase::Exited,
        vec![State(S::Exited)],
    );
    never.settings = settings(AutoRestart::Never);
    let mut shutdown = row(
        "autorestart=true during shutdown: EXITED",
        at(Phase::Running(C)),
        exit(1),
        Phase::Exited,
        vec![State(S::Exited)],
    );
    shutdown.settings = settings(AutoRestart::Always);
    shutdown.shutting_down = true;
    let mut backoff_shutdown = row(
        "backoff over during shutdown: STOPPED",
        at(Phase::Backoff),
        Input::Timer(Backoff),
        Phase::Stopped,
        vec![State(S::Stopped)],
    );
    backoff_shutdown.shutting_down = true;
    let mut immediate = row(
        "spawned, startsecs=0: RUNNING at once",
        with_backoff(spawning(), 2),
        Input::Spawned(C),
        Phase::Running(C),
        vec![State(S::Running)],
    );
    immediate.settings.startsecs = 0;
    let mut gone = row(
        "start a program no longer in the file: FATAL, not spawned",
        at(Phase::Exited),
        Input::Start,
        Phase::Fatal,
        vec![Disarm, State(S::Fatal)],
    );
    gone.spawnable = false;
    let mut gone_on_restart = row(
        "autorestart of a program no longer in the file: FATAL",
        at(Phase::Running(C)),
        exit(1),
        Phase::Fatal,
        vec![State(S::Exited), State(S::Fatal)],
    );
    gone_on_restart.spawnable = false;
    let mut endless = row(
        "spawn refused for good, startretries at its maximum: FATAL at once",
        at(spawning()),
        refused(true),
        Phase::Fatal,
        vec![State(S::Fatal)],
    );
    endless.settings.startretries = u32::MAX;
    rows.extend([
        always,
        never,
        shutdown,
        backoff_shutdown,
        immediate,
        gone,
        gone_on_restart,
        endless,
    ]);
    rows
}

#[test]
fn every_transition() {
    for r in table() {
        let mut life = r.before.clone();
        let fx = run_in(
            &mut life,
            &r.settings,
            r.shutting_down,
            r.spawnable,
            r.input.clone(),
        );
        assert_eq!(life.phase, r.after, "{}: phase", r.what);
        assert_eq!(fx, r.effects, "{}: effects", r.what);
        // Every state change is announced, and the last one announced is the state now.
        if let Some(Effect::State { to: last, .. }) =
            fx.iter().rev().find(|e| matches!(e, Effect::State { .. }))
        {
            assert_eq!(*last, life.state(), "{}: last State effect", r.what);
        } else {
            assert_eq!(
                life.state(),
                r.before.state(),
                "{}: state changed silently",
                r.what
            );
        }
    }
}

#[test]
fn refused_requests_change_nothing() {
    let s = settings(AutoRestart::Unexpected);
    let ctx = Ctx {
        now: NOW,
        shutting_down: false,
        spawnable: true,
    };
    let cases = [
        (spawning(), Input::Start, Refusal::AlreadyStarted),
        (Phase::Starting(C), Input::Start, Refusal::AlreadyStarted),
        (Phase::Running(C), Input::Start, Refusal::AlreadyStarted),
        (Phase::Backoff, Input::Start, Refusal::AlreadyStarted),
        (Phase::Stopping(C), Input::Start, Refusal::StillStopping),
        (stop_requested(), Input::Start, Refusal::StillStopping),
        (Phase::Stopped, Input::Stop, Refusal::NotRunning),
        (Phase::Exited, Input::Stop, Refusal::NotRunning),
        (Phase::Fatal, Input::Stop, Refusal::NotRunning),
    ];
    for (phase, input, want) in cases {
        let mut life = at(phase);
        let before = life.clone();
        assert_eq!(
            life.step(&s, ctx, input.clone()),
            Err(want),
            "{input:?} in {phase:?}"
        );
        assert_eq!(life, before, "{input:?} in {phase:?} changed the state");
    }
}

#[test]
fn bookkeeping_that_status_shows() {
    let s = settings(AutoRestart::Never);
    let mut life = at(Phase::Stopped);
    run(&mut life, &s, false, Input::Start);
    assert_eq!((life.laststart, life.spawnerr.as_str()), (NOW, ""));
    run(&mut life, &s, false, refused(false));
    assert_eq!(life.spawnerr, "can't find command 'x'");
    assert_eq!(life.backoff, 1);
    run(&mut life, &s, false, Input::Timer(TimerKind::Backoff));
    assert_eq!(life.spawnerr, "", "a new attempt clears the last error");
    run(&mut life, &s, false, Input::Spawned(C));
    run(
        &mut life,
        &s,
        false,
        Input::Exited {
            id: C.id,
            status: ExitStatus::Code(0),
        },
    );
    assert_eq!(life.spawnerr, EXITED_TOO_QUICKLY);
    assert_eq!(
        (life.backoff, life.exitstatus, life.laststop),
        (2, Some(0), NOW)
    );
    // A start resets the count of failures; staying up for startsecs too.
    run(&mut life, &s, false, Input::Stop);
    run(&mut life, &s, false, Input::Start);
    assert_eq!(life.backoff, 0);
    run(&mut life, &s, false, Input::Spawned(C));
    run(&mut life, &s, false, Input::Timer(TimerKind::StartSecs));
    run(
        &mut life,
        &s,
        false,
        Input::Exited {
            id: C.id,
            status: ExitStatus::Signal(15),
        },
    );
    assert_eq!((life.phase, life.exitstatus), (Phase::Exited, Some(-15)));
}

#[test]
fn the_delay_grows_a_second_per_failure_until_fatal() {
    let s = settings(AutoRestart::Unexpected);
    let mut life = at(Phase::Stopped);
    run(&mut life, &s, false, Input::Start);
    let mut delays = Vec::new();
    for _ in 0..10 {
        run(&mut life, &s, false, Input::Spawned(C));
        let fx = run(&mut life, &s, false, exit(1));
        match fx.last() {
            Some(Effect::Arm(TimerKind::Backoff, d)) => delays.push(d.as_secs()),
            _ => break,
        }
        run(&mut life, &s, false, Input::Timer(TimerKind::Backoff));
    }
    assert_eq!(delays, [1, 2, 3]);
    assert_eq!(life.phase, Phase::Fatal);
}

#[test]
fn a_program_gone_from_the_file_goes_fatal_without_a_start() {
    let s = settings(AutoRestart::Unexpected);
    let mut life = at(Phase::Stopped);
    let before = life.laststart;
    run_in(&mut life, &s, false, false, Input::Start);
    assert_eq!(life.phase, Phase::Fatal);
    assert_eq!(life.spawnerr, NOT_IN_CONFIG);
    assert_eq!(life.laststart, before, "no start happened");
}

#[test]
fn state_effects_say_where_from_and_the_pid() {
    let s = settings(AutoRestart::Unexpected);
    let ctx = Ctx {
        now: NOW,
        shutting_down: false,
        spawnable: true,
    };
    let states = |fx: Vec<Effect>| -> Vec<Effect> {
        fx.into_iter()
            .filter(|e| matches!(e, Effect::State { .. }))
            .collect()
    };
    let mut life = at(Phase::Stopped);
    let fx = life.step(&s, ctx, Input::Start).unwrap();
    assert_eq!(
        states(fx),
        [Effect::State {
            from: ProcessState::Stopped,
            to: ProcessState::Starting,
            pid: None
        }]
    );
    let fx = life.step(&s, ctx, Input::Spawned(C)).unwrap();
    let pid = u32::try_from(C.pid.as_raw()).ok();
    assert!(states(fx)
        .iter()
        .all(|e| matches!(e, Effect::State { pid: p, .. } if *p == pid)));
    // Once it has exited, its state events still carry the pid it had.
    let mut life = at(Phase::Running(C));
    let fx = life.step(&s, ctx, exit(1)).unwrap();
    assert_eq!(
        states(fx).first(),
        Some(&Effect::State {
            from: ProcessState::Running,
            to: ProcessState::Exited,
            pid
        })
    );
    assert!(!life.expected);
}
