//! Running under the Windows service control manager (SCM).
//!
//! `install` registers the service as `<binary> run-service --data <DIR>`
//! (LocalSystem, automatic delayed start, restart on failure); the SCM then
//! starts that command, which calls [`run_as_service`]. The agent loop runs
//! on its own thread and stops when the SCM sends Stop or Shutdown.

use crate::runner::{run, RunOptions};
use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult, ServiceStatusHandle};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

pub const SERVICE_NAME: &str = "lanward-agent";
pub const DISPLAY_NAME: &str = "lanward エージェント";
const DESCRIPTION: &str = "lanward の IT 資産エージェント: この PC の構成情報を収集してサーバーへ送信します。";
const SERVICE_TYPE: ServiceType = ServiceType::OWN_PROCESS;

/// How long a stopping agent may take to finish its current step (a WMI
/// query may run up to its own timeout) before the service reports Stopped.
const STOP_GRACE: Duration = Duration::from_secs(45);

/// Win32 errors the SCM returns.
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
const ERROR_SERVICE_EXISTS: i32 = 1073;
const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: i32 = 1063;

/// The service entry point gets no arguments from us, so the data directory
/// given on the command line is passed through here.
static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();
/// Why the service stopped, if it failed; returned by `run_as_service`.
static FAILURE: Mutex<Option<String>> = Mutex::new(None);

define_windows_service!(ffi_service_main, service_main);

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

fn run_service() -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = Arc::clone(&stop);
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            handler_stop.store(true, Ordering::Relaxed);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let status = service_control_handler::register(SERVICE_NAME, handler).context("cannot register the service control handler")?;

    let data_dir = DATA_DIR.get().cloned().unwrap_or_else(crate::identity::default_data_dir);
    let (done_tx, done_rx) = mpsc::channel();
    let runner_stop = Arc::clone(&stop);
    let spawned = std::thread::Builder::new().name("lanward-agent".into()).spawn(move || {
        let _ = done_tx.send(run(RunOptions::new(data_dir), runner_stop));
    });
    if let Err(e) = spawned {
        let e = anyhow::Error::new(e).context("cannot start the agent thread");
        record_failure(&e);
        set_status(&status, ServiceState::Stopped, 0, ServiceExitCode::ServiceSpecific(1))?;
        return Err(e);
    }
    set_status(&status, ServiceState::Running, 0, ServiceExitCode::Win32(0))?;
    tracing::info!("service running");

    // Wait for a stop request, or for the agent loop to end by itself (an
    // error such as a missing enrolment, or a panic).
    let mut outcome = None;
    while !stop.load(Ordering::Relaxed) {
        match done_rx.recv_timeout(Duration::from_millis(500)) {
            Ok(result) => {
                outcome = Some(result);
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                outcome = Some(Err(anyhow!("the agent thread panicked")));
                break;
            }
        }
    }

    if outcome.is_none() {
        // Stop requested: give the loop time to finish its step, telling the
        // SCM we are still making progress.
        let deadline = Instant::now() + STOP_GRACE;
        let mut checkpoint = 1;
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

fn set_status(handle: &ServiceStatusHandle, state: ServiceState, checkpoint: u32, exit_code: ServiceExitCode) -> Result<()> {
    let controls_accepted = match state {
        ServiceState::Running => ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
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

/// Stops and removes the service; nothing to do if it is not installed.
pub fn uninstall() -> Result<()> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .context("サービス管理 (SCM) に接続できません。管理者として実行してください")?;
    let service = match manager.open_service(SERVICE_NAME, ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE) {
        Ok(s) => s,
        Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(ERROR_SERVICE_DOES_NOT_EXIST) => return Ok(()),
        Err(e) => return Err(e).context("サービスを開けません"),
    };
    let state = service.query_status().context("サービスの状態を取得できません")?.current_state;
    if state != ServiceState::Stopped {
        if state != ServiceState::StopPending {
            service.stop().context("サービスを停止できません")?;
        }
        let deadline = Instant::now() + STOP_GRACE + Duration::from_secs(15);
        while Instant::now() < deadline {
            if service.query_status().map(|s| s.current_state == ServiceState::Stopped).unwrap_or(false) {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    // Marked for deletion; the SCM removes it once every handle is closed.
    service.delete().context("サービスを削除できません")?;
    Ok(())
}
