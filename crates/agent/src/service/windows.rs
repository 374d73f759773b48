//! Running under the Windows service control manager (SCM).
//!
//! `install` registers the service as `<binary> run-service --data <DIR>`
//! (LocalSystem, automatic delayed start, restart on failure); the SCM then
//! starts that command, which calls [`run_as_service`]. The agent loop runs
//! on its own thread and stops when the SCM sends Stop or Pre-shutdown.
//!
//! The service also records operation events in the journal
//! ([`crate::events`]): its own start and stop, shutdown, session changes
//! (logon, logoff, lock, unlock, connect, disconnect) and suspend/resume.
//! SCM notifications arrive on the dispatcher's thread, which must not be
//! held up: the handler only passes them to the service's main loop.
//! And it starts the session helper ([`crate::session`]) in each user
//! session.

use crate::events::{codes, power_event, session_change_event, Detail, EventKind, Journal};
use crate::runner::{run, RunOptions};
use crate::session::hub::Hub;
use crate::session::windows::{session_user, SessionServer};
use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use windows_service::service::{
    PowerEventParam, Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept, ServiceErrorControl,
    ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus,
    ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult, ServiceStatusHandle};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};
use windows_sys::Win32::UI::WindowsAndMessaging as wm;

pub const SERVICE_NAME: &str = "lanward-agent";
pub const DISPLAY_NAME: &str = "lanward エージェント";
const DESCRIPTION: &str = "lanward の IT 資産エージェント: この PC の構成情報を収集してサーバーへ送信します。";
const SERVICE_TYPE: ServiceType = ServiceType::OWN_PROCESS;

/// How long a stopping agent may take to finish its current step (a WMI
/// query may run up to its own timeout) before the service reports Stopped.
const STOP_GRACE: Duration = Duration::from_secs(45);

/// At shutdown Windows waits only so long: the agent gets less time.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long helpers get to hear "exit" before their pipes are closed.
const HELPER_GRACE: Duration = Duration::from_secs(3);

/// Win32 errors the SCM returns.
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
const ERROR_SERVICE_EXISTS: i32 = 1073;
const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: i32 = 1063;
const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;

// The notification codes `events` maps are the Windows headers' own.
const _: () = {
    assert!(codes::WTS_CONSOLE_CONNECT == wm::WTS_CONSOLE_CONNECT);
    assert!(codes::WTS_CONSOLE_DISCONNECT == wm::WTS_CONSOLE_DISCONNECT);
    assert!(codes::WTS_REMOTE_CONNECT == wm::WTS_REMOTE_CONNECT);
    assert!(codes::WTS_REMOTE_DISCONNECT == wm::WTS_REMOTE_DISCONNECT);
    assert!(codes::WTS_SESSION_LOGON == wm::WTS_SESSION_LOGON);
    assert!(codes::WTS_SESSION_LOGOFF == wm::WTS_SESSION_LOGOFF);
    assert!(codes::WTS_SESSION_LOCK == wm::WTS_SESSION_LOCK);
    assert!(codes::WTS_SESSION_UNLOCK == wm::WTS_SESSION_UNLOCK);
    assert!(codes::WTS_SESSION_REMOTE_CONTROL == wm::WTS_SESSION_REMOTE_CONTROL);
    assert!(codes::WTS_SESSION_CREATE == wm::WTS_SESSION_CREATE);
    assert!(codes::WTS_SESSION_TERMINATE == wm::WTS_SESSION_TERMINATE);
    assert!(codes::PBT_APMQUERYSUSPEND == wm::PBT_APMQUERYSUSPEND);
    assert!(codes::PBT_APMSUSPEND == wm::PBT_APMSUSPEND);
    assert!(codes::PBT_APMRESUMECRITICAL == wm::PBT_APMRESUMECRITICAL);
    assert!(codes::PBT_APMRESUMESUSPEND == wm::PBT_APMRESUMESUSPEND);
    assert!(codes::PBT_APMBATTERYLOW == wm::PBT_APMBATTERYLOW);
    assert!(codes::PBT_APMPOWERSTATUSCHANGE == wm::PBT_APMPOWERSTATUSCHANGE);
    assert!(codes::PBT_APMOEMEVENT == wm::PBT_APMOEMEVENT);
    assert!(codes::PBT_APMRESUMEAUTOMATIC == wm::PBT_APMRESUMEAUTOMATIC);
    assert!(codes::PBT_POWERSETTINGCHANGE == wm::PBT_POWERSETTINGCHANGE);
};

/// The service entry point gets no arguments from us, so the data directory
/// given on the command line is passed through here.
static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();
/// Why the service stopped, if it failed; returned by `run_as_service`.
static FAILURE: Mutex<Option<String>> = Mutex::new(None);

define_windows_service!(ffi_service_main, service_main);

/// Whether this process runs as the service (LocalSystem), not from a
/// console: sources that change system settings (the print log) do so only then.
pub fn running_as_service() -> bool {
    DATA_DIR.get().is_some()
}

/// Hands the process to the SCM and returns when the service has stopped.
/// Fails at once when not started by the SCM (e.g. from a console).
pub fn run_as_service(data_dir: PathBuf) -> Result<()> {
    DATA_DIR.set(data_dir).map_err(|_| anyhow!("run_as_service may be called only once"))?;
    match service_dispatcher::start(SERVICE_NAME, ffi_service_main) {
        Ok(()) => {}
        Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) => {
            bail!("run-service はサービス管理 (SCM) から起動されるコマンドです。コンソールでは `run` を使ってください")
        }
        Err(e) => return Err(e).context("サービス管理 (SCM) に接続できません"),
    }
    match FAILURE.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(reason) => bail!(reason),
        None => Ok(()),
    }
}

/// Called by the SCM on its own thread.
fn service_main(_arguments: Vec<OsString>) {
    if let Err(e) = run_service() {
        record_failure(&e);
    }
}

/// Keeps the first failure for `run_as_service`. Must happen before Stopped
/// is reported: the dispatcher returns as soon as the SCM sees it.
fn record_failure(e: &anyhow::Error) {
    tracing::error!(error = format!("{e:#}"), "service failed");
    let mut failure = FAILURE.lock().unwrap_or_else(|p| p.into_inner());
    if failure.is_none() {
        *failure = Some(format!("{e:#}"));
    }
}

/// What the SCM told us, passed from its handler to the main loop.
enum Control {
    Stop,
    Shutdown,
    SessionChange { code: u32, session_id: u32 },
    Power(u32),
}

/// The `PBT_*` code of a power notification (windows-service hands us an enum).
fn power_code(p: &PowerEventParam) -> Option<u32> {
    Some(match p {
        PowerEventParam::Suspend => wm::PBT_APMSUSPEND,
        PowerEventParam::ResumeAutomatic => wm::PBT_APMRESUMEAUTOMATIC,
        PowerEventParam::ResumeSuspend => wm::PBT_APMRESUMESUSPEND,
        PowerEventParam::ResumeCritical => wm::PBT_APMRESUMECRITICAL,
        PowerEventParam::QuerySuspend => wm::PBT_APMQUERYSUSPEND,
        PowerEventParam::PowerStatusChange => wm::PBT_APMPOWERSTATUSCHANGE,
        _ => return None,
    })
}

fn run_service() -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = Arc::clone(&stop);
    let (control_tx, control_rx) = mpsc::channel();
    let handler = move |control| {
        let pass = match control {
            ServiceControl::Stop => {
                handler_stop.store(true, Ordering::Relaxed);
                Control::Stop
            }
            ServiceControl::Preshutdown | ServiceControl::Shutdown => {
                handler_stop.store(true, Ordering::Relaxed);
                Control::Shutdown
            }
            ServiceControl::SessionChange(p) => Control::SessionChange { code: p.reason.to_raw(), session_id: p.notification.session_id },
            ServiceControl::PowerEvent(p) => match power_code(&p) {
                Some(code) => Control::Power(code),
                None => return ServiceControlHandlerResult::NoError,
            },
            ServiceControl::Interrogate => return ServiceControlHandlerResult::NoError,
            _ => return ServiceControlHandlerResult::NotImplemented,
        };
        // The receiver lives as long as the service runs; afterwards there
        // is nobody left to tell.
        let _ = control_tx.send(pass);
        ServiceControlHandlerResult::NoError
    };
    let status = service_control_handler::register(SERVICE_NAME, handler).context("cannot register the service control handler")?;

    let data_dir = DATA_DIR.get().cloned().unwrap_or_else(crate::identity::default_data_dir);
    let run_options = RunOptions::new(data_dir.clone());
    let journal = match Journal::open(&data_dir.join("events"), run_options.events_cap_bytes) {
        Ok(j) => Some(crate::events::shared(j)),
        Err(e) => {
            // The inventory still runs; events are only logged.
            tracing::error!(error = %e, "cannot open the event journal");
            None
        }
    };
    // One journal: the service's notifications, the session helpers, the
    // event sources and the sender all use it.
    let hub = Arc::new(Hub::new(journal.clone()));
    hub.record(EventKind::ServiceStart, None, None, Some(Detail::reason(&format!("version {}", crate::AGENT_VERSION))));

    let (done_tx, done_rx) = mpsc::channel();
    let runner_stop = Arc::clone(&stop);
    let spawned = std::thread::Builder::new().name("lanward-agent".into()).spawn(move || {
        let _ = done_tx.send(run(RunOptions { journal, ..run_options }, runner_stop));
    });
    if let Err(e) = spawned {
        let e = anyhow::Error::new(e).context("cannot start the agent thread");
        record_failure(&e);
        hub.record(EventKind::ServiceStop, None, None, Some(Detail::reason(&format!("{e:#}"))));
        set_status(&status, ServiceState::Stopped, 0, ServiceExitCode::ServiceSpecific(1))?;
        return Err(e);
    }
    set_status(&status, ServiceState::Running, 0, ServiceExitCode::Win32(0))?;
    tracing::info!("service running");

    let mut sessions = match std::env::current_exe() {
        Ok(exe) => Some(SessionServer::new(Arc::clone(&hub), exe)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot find this program's path; no session helpers");
            None
        }
    };
    if let Some(s) = sessions.as_mut() {
        s.start_existing();
    }

    // Handle notifications until a stop request, or until the agent loop
    // ends by itself (an error such as a missing enrolment, or a panic).
    let mut outcome = None;
    let mut shutting_down = false;
    loop {
        match control_rx.recv_timeout(Duration::from_millis(500)) {
            Ok(Control::Stop) => break,
            Ok(Control::Shutdown) => {
                shutting_down = true;
                hub.record(EventKind::Shutdown, None, None, None);
                break;
            }
            Ok(Control::SessionChange { code, session_id }) => on_session_change(&hub, sessions.as_mut(), code, session_id),
            Ok(Control::Power(code)) => {
                if let Some(kind) = power_event(code) {
                    hub.record(kind, None, None, None);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        match done_rx.try_recv() {
            Ok(result) => {
                outcome = Some(result);
                break;
            }
            Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) => {
                outcome = Some(Err(anyhow!("the agent thread panicked")));
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);

    let reason = match &outcome {
        Some(Err(e)) => format!("{e:#}"),
        _ if shutting_down => "shutdown".to_string(),
        _ => "stop".to_string(),
    };
    hub.record(EventKind::ServiceStop, None, None, Some(Detail::reason(&reason)));
    set_status(&status, ServiceState::StopPending, 1, ServiceExitCode::Win32(0))?;
    if let Some(s) = sessions.as_mut() {
        s.shutdown(if shutting_down { Duration::from_secs(1) } else { HELPER_GRACE });
    }

    if outcome.is_none() {
        // Give the loop time to finish its step, telling the SCM we are
        // still making progress.
        let deadline = Instant::now() + if shutting_down { SHUTDOWN_GRACE } else { STOP_GRACE };
        let mut checkpoint = 2;
        while outcome.is_none() && Instant::now() < deadline {
            set_status(&status, ServiceState::StopPending, checkpoint, ServiceExitCode::Win32(0))?;
            checkpoint += 1;
            match done_rx.recv_timeout(Duration::from_secs(1)) {
                Ok(result) => outcome = Some(result),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => outcome = Some(Ok(())),
            }
        }
        if outcome.is_none() {
            tracing::warn!("agent loop did not stop in time; stopping anyway");
        }
    }

    match outcome {
        Some(Err(e)) => {
            // A service-specific exit code counts as a failure, so the SCM's
            // recovery actions restart the service later.
            record_failure(&e);
            set_status(&status, ServiceState::Stopped, 0, ServiceExitCode::ServiceSpecific(1))?;
            Err(e)
        }
        _ => {
            set_status(&status, ServiceState::Stopped, 0, ServiceExitCode::Win32(0))?;
            tracing::info!("service stopped");
            Ok(())
        }
    }
}

/// Records a session change and starts or ends the session's helper.
fn on_session_change(hub: &Hub, sessions: Option<&mut SessionServer>, code: u32, session_id: u32) {
    let Some((kind, detail)) = session_change_event(code) else { return };
    // At logoff Windows may no longer name the user: then the name seen
    // earlier is used.
    hub.set_user(session_id, session_user(session_id));
    let user = hub.user(session_id);
    hub.record(kind, Some(session_id), user.as_deref(), detail);
    match kind {
        // Unlock and connect too: a helper that could not start at logon
        // gets another chance.
        EventKind::Logon | EventKind::Unlock | EventKind::SessionConnect => {
            if let Some(s) = sessions {
                s.start(session_id);
            }
        }
        EventKind::Logoff => {
            if let Some(s) = sessions {
                s.end(session_id);
            }
            hub.end_session(session_id);
        }
        _ => {}
    }
}

fn set_status(handle: &ServiceStatusHandle, state: ServiceState, checkpoint: u32, exit_code: ServiceExitCode) -> Result<()> {
    let controls_accepted = match state {
        // Pre-shutdown rather than shutdown: it comes early enough to record
        // the shutdown and stop in order.
        ServiceState::Running => {
            ServiceControlAccept::STOP
                | ServiceControlAccept::PRESHUTDOWN
                | ServiceControlAccept::SESSION_CHANGE
                | ServiceControlAccept::POWER_EVENT
        }
        _ => ServiceControlAccept::empty(),
    };
    let wait_hint = if state == ServiceState::StopPending { Duration::from_secs(5) } else { Duration::default() };
    handle
        .set_service_status(ServiceStatus {
            service_type: SERVICE_TYPE,
            current_state: state,
            controls_accepted,
            exit_code,
            checkpoint,
            wait_hint,
            process_id: None,
        })
        .with_context(|| format!("cannot report service state {state:?} to the SCM"))
}

/// Registers (or re-registers, after an upgrade) the service to run
/// `binary run-service --data data_dir` as LocalSystem at boot.
/// Needs administrator rights.
pub fn install(binary: &Path, data_dir: &Path) -> Result<()> {
    // The SCM starts services in System32: relative paths would point there.
    if !binary.is_absolute() || !data_dir.is_absolute() {
        bail!("実行ファイルとデータディレクトリは絶対パスで指定してください ({}, {})", binary.display(), data_dir.display());
    }
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)
        .context("サービス管理 (SCM) に接続できません。管理者として実行してください")?;
    let info = ServiceInfo {
        name: OsString::from(SERVICE_NAME),
        display_name: OsString::from(DISPLAY_NAME),
        service_type: SERVICE_TYPE,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: binary.to_path_buf(),
        launch_arguments: vec![OsString::from("run-service"), OsString::from("--data"), data_dir.as_os_str().to_owned()],
        dependencies: vec![],
        account_name: None, // LocalSystem: needed to read WMI and every user's hive.
        account_password: None,
    };
    let access = ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG | ServiceAccess::CHANGE_CONFIG | ServiceAccess::START;
    let service = match manager.create_service(&info, access) {
        Ok(s) => s,
        Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(ERROR_SERVICE_EXISTS) => {
            let s = manager.open_service(SERVICE_NAME, access).context("既存のサービスを開けません")?;
            s.change_config(&info).context("既存のサービスの設定を更新できません")?;
            s
        }
        Err(e) => return Err(e).context("サービスを登録できません"),
    };
    // The service works without the settings below, so a failure only
    // warns (Wine, for one, implements none of them).
    if let Err(e) = service.set_description(DESCRIPTION) {
        tracing::warn!(error = %e, "cannot set the service description");
    }
    // Delayed start: 680 PCs switched on at once have better things to do
    // in the first minutes than an inventory.
    if let Err(e) = service.set_delayed_auto_start(true) {
        tracing::warn!(error = %e, "cannot set delayed automatic start");
    }
    let recovery = service
        .update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![
                ServiceAction { action_type: ServiceActionType::Restart, delay: Duration::from_secs(60) },
                ServiceAction { action_type: ServiceActionType::Restart, delay: Duration::from_secs(60) },
                ServiceAction { action_type: ServiceActionType::Restart, delay: Duration::from_secs(600) },
            ]),
        })
        // Also restart after a clean exit with an error code (e.g. not enrolled yet).
        .and_then(|()| service.set_failure_actions_on_non_crash_failures(true));
    if let Err(e) = recovery {
        tracing::warn!(error = %e, "cannot set the recovery actions (restart on failure)");
    }
    Ok(())
}

fn connect_manager() -> Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .context("サービス管理 (SCM) に接続できません。管理者として実行してください")
}

/// Opens the installed service; `None` if it is not installed.
fn open_service(access: ServiceAccess) -> Result<Option<Service>> {
    match connect_manager()?.open_service(SERVICE_NAME, access) {
        Ok(s) => Ok(Some(s)),
        Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(ERROR_SERVICE_DOES_NOT_EXIST) => Ok(None),
        Err(e) => Err(e).context("サービスを開けません。管理者として実行してください"),
    }
}

/// Waits until the service reaches `want` or stops trying; returns the last state.
fn wait_for_state(service: &Service, want: ServiceState, limit: Duration) -> Result<ServiceStatus> {
    let deadline = Instant::now() + limit;
    loop {
        let status = service.query_status().context("サービスの状態を取得できません")?;
        // Stopped while we wait for Running: it failed to start.
        let failed = want == ServiceState::Running && status.current_state == ServiceState::Stopped;
        if status.current_state == want || failed || Instant::now() > deadline {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Starts the installed service and waits until it runs.
pub fn start(data_dir: &Path) -> Result<()> {
    let Some(service) = open_service(ServiceAccess::QUERY_STATUS | ServiceAccess::START)? else {
        bail!("サービス {SERVICE_NAME} は登録されていません。先に `lanward-agent service install` を実行してください");
    };
    match service.start::<&str>(&[]) {
        Ok(()) => {}
        Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(ERROR_SERVICE_ALREADY_RUNNING) => return Ok(()),
        Err(e) => return Err(e).context("サービスを開始できません"),
    }
    // Give it a moment: a start that fails at once (not enrolled) stops
    // again right away.
    let status = wait_for_state(&service, ServiceState::Running, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_secs(1));
    let status = service.query_status().unwrap_or(status);
    if status.current_state != ServiceState::Running {
        bail!(
            "サービスが開始しませんでした (state {:?}, exit code {:?})。{} を確認してください",
            status.current_state,
            status.exit_code,
            data_dir.join("agent.log").display()
        );
    }
    Ok(())
}

/// Stops the service and waits until it has stopped.
pub fn stop() -> Result<()> {
    let Some(service) = open_service(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP)? else {
        bail!("サービス {SERVICE_NAME} は登録されていません");
    };
    stop_and_wait(&service)
}

fn stop_and_wait(service: &Service) -> Result<()> {
    let state = service.query_status().context("サービスの状態を取得できません")?.current_state;
    if state == ServiceState::Stopped {
        return Ok(());
    }
    if state != ServiceState::StopPending {
        match service.stop() {
            Ok(_) => {}
            Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(ERROR_SERVICE_NOT_ACTIVE) => return Ok(()),
            Err(e) => return Err(e).context("サービスを停止できません"),
        }
    }
    let status = wait_for_state(service, ServiceState::Stopped, STOP_GRACE + HELPER_GRACE + Duration::from_secs(15))?;
    if status.current_state != ServiceState::Stopped {
        bail!("サービスが時間内に停止しませんでした (state {:?})", status.current_state);
    }
    Ok(())
}

/// Stops and removes the service; nothing to do if it is not installed.
pub fn uninstall() -> Result<()> {
    let Some(service) = open_service(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE)? else {
        return Ok(());
    };
    if let Err(e) = stop_and_wait(&service) {
        // Deleting still works: the SCM removes it once it has stopped.
        tracing::warn!(error = format!("{e:#}"), "the service did not stop cleanly");
    }
    // Marked for deletion; the SCM removes it once every handle is closed.
    service.delete().context("サービスを削除できません")?;
    Ok(())
}
