use lanward_deploy::{MaintenanceWindow, WindowError, WindowSpec, Windows};

use crate::jst;

/// The bureau's usual windows: lunch hour and after hours on weekdays.
fn bureau_windows() -> Windows {
    let list = vec![
        MaintenanceWindow::cron("0 12 * * 1-5", 60).expect("valid"),
        MaintenanceWindow::cron("30 17 * * mon-fri", 270).expect("valid"),
    ];
    Windows::new(list, jst(2026, 11, 27, 9, 0)).expect("opens")
}

#[test]
fn friday_evening_then_closed_until_monday_noon() {
    let w = bureau_windows();
    // 2026-11-27 is a Friday.
    assert!(!w.is_open(jst(2026, 11, 27, 11, 59)));
    assert!(w.is_open(jst(2026, 11, 27, 12, 0)));
    assert!(!w.is_open(jst(2026, 11, 27, 13, 0)), "end is exclusive");
    assert!(w.is_open(jst(2026, 11, 27, 17, 30)));
    assert!(w.is_open(jst(2026, 11, 27, 21, 59)));
    assert!(!w.is_open(jst(2026, 11, 27, 22, 0)));
    assert!(!w.is_open(jst(2026, 11, 28, 12, 30)), "Saturday");
    assert!(!w.is_open(jst(2026, 11, 29, 18, 0)), "Sunday");
    assert_eq!(
        w.next_open(jst(2026, 11, 27, 22, 0)),
        Some((jst(2026, 11, 30, 12, 0), jst(2026, 11, 30, 13, 0)))
    );
    // Already open: the stretch starts at the asked moment.
    assert_eq!(
        w.next_open(jst(2026, 11, 27, 20, 0)),
        Some((jst(2026, 11, 27, 20, 0), jst(2026, 11, 27, 22, 0)))
    );
    assert_eq!(
        w.next_open(jst(2026, 11, 30, 13, 0)),
        Some((jst(2026, 11, 30, 17, 30), jst(2026, 11, 30, 22, 0)))
    );
}

#[test]
fn simple_form_across_midnight_in_jst() {
    // Opens Friday 22:00 JST (13:00 UTC, still Friday in UTC), closes Saturday 02:00 JST.
    let w = Windows::from_specs(
        &[WindowSpec::Simple("fri 22:00-02:00".into())],
        jst(2026, 11, 25, 0, 0),
    )
    .expect("valid");
    assert!(!w.is_open(jst(2026, 11, 27, 21, 59)));
    assert!(w.is_open(jst(2026, 11, 27, 23, 0)));
    assert!(
        w.is_open(jst(2026, 11, 28, 1, 59)),
        "Saturday early morning belongs to Friday's window"
    );
    assert!(!w.is_open(jst(2026, 11, 28, 2, 0)));
    assert!(!w.is_open(jst(2026, 11, 28, 22, 30)), "not Saturday night");
    assert_eq!(
        w.next_open(jst(2026, 11, 28, 2, 0)),
        Some((jst(2026, 12, 4, 22, 0), jst(2026, 12, 5, 2, 0)))
    );
}

#[test]
fn weekday_boundary_is_jst_not_utc() {
    // Monday 08:00 JST is Sunday 23:00 UTC: a "mon" window must use JST's Monday.
    let w = Windows::from_specs(
        &[WindowSpec::Simple("mon 08:00-09:00".into())],
        jst(2026, 11, 25, 0, 0),
    )
    .expect("valid");
    assert!(w.is_open(jst(2026, 11, 30, 8, 30)));
    assert!(!w.is_open(jst(2026, 11, 29, 8, 30)), "Sunday");
}

#[test]
fn touching_windows_merge_across_midnight() {
    let w = Windows::from_specs(
        &[
            WindowSpec::Simple("daily 22:00-24:00".into()),
            WindowSpec::Cron {
                cron: "0 0 * * *".into(),
                minutes: 360,
            },
        ],
        jst(2026, 11, 25, 0, 0),
    )
    .expect("valid");
    assert_eq!(
        w.next_open(jst(2026, 11, 27, 21, 0)),
        Some((jst(2026, 11, 27, 22, 0), jst(2026, 11, 28, 6, 0)))
    );
}

#[test]
fn february_30_never_opens() {
    let now = jst(2026, 11, 29, 12, 0);
    let list = vec![
        MaintenanceWindow::cron("0 12 * * 1-5", 60).expect("valid"),
        MaintenanceWindow::cron("0 0 30 2 *", 60).expect("syntax is fine"),
    ];
    let err = Windows::new(list, now).expect_err("never opens");
    assert_eq!(err, WindowError::NeverOpens("0 0 30 2 *".into()));
    assert_eq!(
        err.to_string(),
        "メンテナンス時間帯 \"0 0 30 2 *\" は 1 年以内に一度も開きません (never opens)"
    );
    // 29 February opens in 2028, more than a year from November 2026.
    let leap = Windows::new(
        vec![MaintenanceWindow::cron("0 0 29 2 *", 60).expect("valid")],
        now,
    );
    assert!(matches!(leap, Err(WindowError::NeverOpens(_))));
    // ...but is accepted from December 2027.
    assert!(Windows::new(
        vec![MaintenanceWindow::cron("0 0 29 2 *", 60).expect("valid")],
        jst(2027, 12, 1, 0, 0)
    )
    .is_ok());
}

#[test]
fn bad_cron_names_expression_and_field() {
    let err = MaintenanceWindow::cron("0 25 * * 1-5", 60).expect_err("hour 25");
    let msg = err.to_string();
    assert!(
        matches!(err, WindowError::BadField { field: "hour", .. }),
        "{err:?}"
    );
    assert!(
        msg.starts_with("メンテナンス時間帯 \"0 25 * * 1-5\" の時が不正です"),
        "{msg}"
    );
    assert!(msg.ends_with("(invalid hour field)"), "{msg}");

    let err = MaintenanceWindow::cron("0 12 * * mon-fry", 60).expect_err("bad weekday");
    assert!(
        matches!(
            err,
            WindowError::BadField {
                field: "day-of-week",
                ..
            }
        ),
        "{err:?}"
    );
    let err = MaintenanceWindow::cron("61 12 * * *", 60).expect_err("bad minute");
    assert!(
        matches!(
            err,
            WindowError::BadField {
                field: "minute",
                ..
            }
        ),
        "{err:?}"
    );
    let err = MaintenanceWindow::cron("0 12 * 13 *", 60).expect_err("bad month");
    assert!(
        matches!(err, WindowError::BadField { field: "month", .. }),
        "{err:?}"
    );

    let err = MaintenanceWindow::cron("0 12 * *", 60).expect_err("four fields");
    assert!(err.to_string().contains("\"0 12 * *\""), "{err}");
    assert!(matches!(
        MaintenanceWindow::cron("0 12 * * *", 0),
        Err(WindowError::BadDuration { .. })
    ));
}

#[test]
fn bad_simple_form_is_refused_with_its_text() {
    for text in [
        "weekdays",
        "mon-fri 12:00",
        "mon-fri 25:00-26:00",
        "mon-fri 12:60-13:00",
        "mon-fry 12:00-13:00",
        "mon-fri aa:00-13:00",
    ] {
        let err = MaintenanceWindow::parse_simple(text).expect_err(text);
        assert!(
            err.to_string().contains(&format!("\"{text}\"")),
            "{text}: {err}"
        );
    }
    assert!(MaintenanceWindow::parse_simple("sat,sun 09:00-17:00").is_ok());
}
