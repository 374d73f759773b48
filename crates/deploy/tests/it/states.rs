use lanward_deploy::{transition, Event, TargetState};

fn all_events() -> Vec<Event> {
    vec![
        Event::WindowClosed,
        Event::WindowOpened,
        Event::StartDownload,
        Event::Progress { percent: 50 },
        Event::DownloadComplete,
        Event::StartInstall,
        Event::InstallSucceeded {
            reboot_required: false,
        },
        Event::InstallSucceeded {
            reboot_required: true,
        },
        Event::Rebooted,
        Event::Fail {
            code: 1603,
            log_tail: "x".into(),
        },
        Event::NotApplicable,
        Event::Cancel,
        Event::Retry,
        Event::DeadlinePassed,
        Event::Unclaimed,
    ]
}

#[test]
fn installed_cannot_go_back_to_downloading() {
    for e in [
        Event::StartDownload,
        Event::Progress { percent: 10 },
        Event::DownloadComplete,
        Event::StartInstall,
    ] {
        let err = transition(&TargetState::Installed, &e).expect_err("installed is final");
        assert_eq!(err.from, TargetState::Installed);
    }
}

#[test]
fn cancelled_and_installed_and_not_applicable_are_final() {
    for s in [
        TargetState::Cancelled,
        TargetState::Installed,
        TargetState::NotApplicable,
    ] {
        for e in all_events() {
            assert!(transition(&s, &e).is_err(), "{s:?} accepted {e:?}");
        }
    }
}

#[test]
fn failed_goes_back_to_queued_on_retry_only() {
    let failed = transition(
        &TargetState::Installing,
        &Event::Fail {
            code: 1603,
            log_tail: "エラー 1603".into(),
        },
    )
    .expect("install can fail");
    assert_eq!(
        failed,
        TargetState::Failed {
            code: 1603,
            log_tail: "エラー 1603".into()
        }
    );
    assert_eq!(transition(&failed, &Event::Retry), Ok(TargetState::Queued));
    assert!(transition(&failed, &Event::StartDownload).is_err());
    assert!(transition(&TargetState::Queued, &Event::Retry).is_err());
}

#[test]
fn window_wait_deadline_and_reboot() {
    let w = transition(&TargetState::Queued, &Event::WindowClosed).expect("ok");
    assert_eq!(w, TargetState::WaitingForWindow);
    assert_eq!(
        transition(&w, &Event::DeadlinePassed),
        Ok(TargetState::Missed)
    );
    assert!(
        transition(
            &TargetState::Downloading { percent: 5 },
            &Event::DeadlinePassed
        )
        .is_err(),
        "a started target is never missed"
    );
    let p = transition(
        &TargetState::Installing,
        &Event::InstallSucceeded {
            reboot_required: true,
        },
    )
    .expect("ok");
    assert_eq!(p, TargetState::InstalledPendingReboot);
    assert_eq!(transition(&p, &Event::Rebooted), Ok(TargetState::Installed));
    assert!(
        transition(&TargetState::Installing, &Event::Cancel).is_err(),
        "an install in progress is not cut"
    );
}

#[test]
fn labels_in_both_languages() {
    assert_eq!(TargetState::Queued.label_ja(), "待機中");
    assert_eq!(TargetState::Queued.label_en(), "Queued");
    assert_eq!(TargetState::InstalledPendingReboot.label_ja(), "再起動待ち");
    assert_eq!(
        TargetState::Failed {
            code: 1,
            log_tail: String::new()
        }
        .label_en(),
        "Failed"
    );
}

#[test]
fn an_unclaimed_release_goes_back_to_the_queue_but_a_started_download_does_not() {
    assert_eq!(transition(&TargetState::Downloading { percent: 0 }, &Event::Unclaimed), Ok(TargetState::Queued));
    assert!(transition(&TargetState::Downloading { percent: 10 }, &Event::Unclaimed).is_err());
    assert!(transition(&TargetState::Downloaded, &Event::Unclaimed).is_err());
}
