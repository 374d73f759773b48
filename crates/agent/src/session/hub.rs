//! The service's side of the conversation with session helpers, without
//! the pipes: who is logged on where, commands waiting for each session,
//! consent prompts waiting for an answer, and recording what helpers
//! report. `windows.rs` feeds it verified messages and sends its replies.

use super::protocol::{Answer, HelperMessage, ServiceMessage, PROTOCOL_VERSION};
use crate::events::{Detail, EventKind, SharedJournal};
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;
use std::sync::Mutex;

/// Commands kept for a session whose helper has not fetched them; beyond
/// this the oldest go (a helper that never connects must not grow memory).
pub const MAX_WAITING_COMMANDS: usize = 16;
/// Longest notice or question text; longer is cut.
pub const MAX_TEXT_CHARS: usize = 2000;

#[derive(Default)]
struct Session {
    user: Option<String>,
    outbox: VecDeque<ServiceMessage>,
    /// Consent prompts sent or waiting, by id.
    asked: HashMap<u64, mpsc::Sender<Answer>>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<u32, Session>,
    next_id: u64,
    exiting: bool,
}

pub struct Hub {
    journal: Option<SharedJournal>,
    state: Mutex<State>,
}

impl Hub {
    /// `journal` is `None` when it could not be opened: the service still
    /// runs (the inventory matters more), events are only logged. The same
    /// journal is shared with the event sources and the sender.
    pub fn new(journal: Option<SharedJournal>) -> Hub {
        Hub { journal, state: Mutex::new(State { next_id: 1, ..Default::default() }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event; a journal that fails is logged, never fatal.
    pub fn record(&self, kind: EventKind, session_id: Option<u32>, user: Option<&str>, detail: Option<Detail>) {
        tracing::info!(?kind, session_id, user, "event");
        self.write(kind, session_id, user, detail);
    }

    fn write(&self, kind: EventKind, session_id: Option<u32>, user: Option<&str>, detail: Option<Detail>) {
        if let Some(j) = &self.journal {
            if let Err(e) = crate::events::lock(j).record(kind, session_id, user, detail) {
                tracing::warn!(error = %e, ?kind, "cannot write the event journal");
            }
        }
    }

    /// Remembers who is logged on in a session: at logoff Windows may no
    /// longer say. `None` keeps what is known.
    pub fn set_user(&self, session_id: u32, user: Option<String>) {
        let mut state = self.state();
        let s = state.sessions.entry(session_id).or_default();
        if user.is_some() {
            s.user = user;
        }
    }

    pub fn user(&self, session_id: u32) -> Option<String> {
        self.state().sessions.get(&session_id).and_then(|s| s.user.clone())
    }

    /// Forgets a session (logoff). Its unanswered prompts are answered
    /// `Failed`.
    pub fn end_session(&self, session_id: u32) {
        if let Some(s) = self.state().sessions.remove(&session_id) {
            for (_, tx) in s.asked {
                let _ = tx.send(Answer::Failed);
            }
        }
    }

    /// Queues a notice for the session's helper; returns its id.
    pub fn notify(&self, session_id: u32, text: &str) -> u64 {
        let mut state = self.state();
        let id = state.next_id;
        state.next_id += 1;
        let s = state.sessions.entry(session_id).or_default();
        push_command(s, ServiceMessage::Notice { id, text: clip(text) });
        id
    }

    /// Queues a Yes/No question; the answer arrives on the receiver
    /// (`Failed` if the prompt could not be shown or the user logged off).
    /// The caller decides how long to wait.
    pub fn ask_consent(&self, session_id: u32, text: &str) -> mpsc::Receiver<Answer> {
        let (tx, rx) = mpsc::channel();
        let mut state = self.state();
        let id = state.next_id;
        state.next_id += 1;
        let s = state.sessions.entry(session_id).or_default();
        s.asked.insert(id, tx);
        push_command(s, ServiceMessage::Consent { id, text: clip(text) });
        rx
    }

    /// From now on every helper is told to exit.
    pub fn begin_exit(&self) {
        self.state().exiting = true;
    }

    pub fn is_exiting(&self) -> bool {
        self.state().exiting
    }

    /// Handles one message from the (verified) helper of `session_id` and
    /// returns the reply.
    pub fn handle(&self, session_id: u32, msg: HelperMessage) -> ServiceMessage {
        match msg {
            HelperMessage::Hello { version, pid } => {
                if version != PROTOCOL_VERSION {
                    // A helper of another agent version (an upgrade in
                    // progress): it goes, the service starts its own.
                    tracing::warn!(session_id, version, pid, "session helper speaks another protocol version");
                    return ServiceMessage::Exit;
                }
            }
            HelperMessage::Heartbeat => {}
            HelperMessage::Foreground { title, process, started_at_ms, dwell_ms } => {
                let user = self.user(session_id);
                let detail =
                    Detail { title: Some(title), process: Some(process), dwell_ms: Some(dwell_ms), started_at_ms: Some(started_at_ms), ..Default::default() };
                // Not logged: one a second or so per session.
                self.write(EventKind::ForegroundWindow, Some(session_id), user.as_deref(), Some(detail));
            }
            HelperMessage::ConsentAnswer { id, answer } => {
                let asked = self.state().sessions.get_mut(&session_id).and_then(|s| s.asked.remove(&id));
                match asked {
                    Some(tx) => {
                        let _ = tx.send(answer);
                    }
                    // Not asked, or asked of another session: ignored.
                    None => tracing::warn!(session_id, id, "answer to a question not asked in this session"),
                }
            }
        }
        let mut state = self.state();
        if state.exiting {
            return ServiceMessage::Exit;
        }
        state.sessions.get_mut(&session_id).and_then(|s| s.outbox.pop_front()).unwrap_or(ServiceMessage::Ok)
    }
}

fn push_command(s: &mut Session, cmd: ServiceMessage) {
    while s.outbox.len() >= MAX_WAITING_COMMANDS {
        if let Some(ServiceMessage::Consent { id, .. }) = s.outbox.pop_front() {
            if let Some(tx) = s.asked.remove(&id) {
                let _ = tx.send(Answer::Failed);
            }
        }
    }
    s.outbox.push_back(cmd);
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Journal;
    use crate::session::protocol::{encode, MAX_FRAME};

    fn hub() -> (tempfile::TempDir, Hub) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), crate::events::DEFAULT_CAP_BYTES).unwrap();
        (dir, Hub::new(Some(crate::events::shared(journal))))
    }

    fn events(dir: &tempfile::TempDir) -> Vec<crate::events::Event> {
        Journal::open(dir.path(), crate::events::DEFAULT_CAP_BYTES).unwrap().read_all().unwrap()
    }

    #[test]
    fn foreground_reports_are_journalled_with_the_session_user() {
        let (dir, hub) = hub();
        hub.set_user(3, Some("SUIDO\\sato".into()));
        hub.set_user(3, None);
        let reply = hub.handle(3, HelperMessage::Foreground { title: "検針データ.xlsx - Excel".into(), process: "EXCEL.EXE".into(), started_at_ms: 10, dwell_ms: 42_000 });
        assert_eq!(reply, ServiceMessage::Ok);
        let e = &events(&dir)[0];
        assert_eq!(e.kind, EventKind::ForegroundWindow);
        assert_eq!((e.session_id, e.user.as_deref()), (Some(3), Some("SUIDO\\sato")));
        let d = e.detail.as_ref().unwrap();
        assert_eq!((d.title.as_deref(), d.process.as_deref(), d.dwell_ms, d.started_at_ms), (Some("検針データ.xlsx - Excel"), Some("EXCEL.EXE"), Some(42_000), Some(10)));
    }

    #[test]
    fn commands_wait_for_their_session_and_go_out_one_per_reply() {
        let (_dir, hub) = hub();
        let n = hub.notify(1, "本日 17 時にメンテナンスを行います");
        let rx = hub.ask_consent(1, "画面を共有してよろしいですか?");
        assert_eq!(hub.handle(2, HelperMessage::Heartbeat), ServiceMessage::Ok, "another session gets nothing");
        assert_eq!(hub.handle(1, HelperMessage::Hello { version: PROTOCOL_VERSION, pid: 9 }), ServiceMessage::Notice { id: n, text: "本日 17 時にメンテナンスを行います".into() });
        let ServiceMessage::Consent { id, .. } = hub.handle(1, HelperMessage::Heartbeat) else { panic!("consent expected") };
        assert_eq!(hub.handle(1, HelperMessage::Heartbeat), ServiceMessage::Ok);
        // Another session cannot answer for this one.
        hub.handle(2, HelperMessage::ConsentAnswer { id, answer: Answer::Yes });
        assert!(rx.try_recv().is_err());
        hub.handle(1, HelperMessage::ConsentAnswer { id, answer: Answer::No });
        assert_eq!(rx.try_recv().unwrap(), Answer::No);
        // A second answer to the same question is ignored.
        hub.handle(1, HelperMessage::ConsentAnswer { id, answer: Answer::Yes });
    }

    #[test]
    fn logoff_fails_open_questions_and_the_outbox_is_bounded() {
        let (_dir, hub) = hub();
        let first = hub.ask_consent(5, "?");
        for i in 0..MAX_WAITING_COMMANDS {
            hub.notify(5, &format!("notice {i}"));
        }
        assert_eq!(first.try_recv().unwrap(), Answer::Failed, "pushed out of the outbox");
        let open = hub.ask_consent(5, "?");
        hub.end_session(5);
        assert_eq!(open.try_recv().unwrap(), Answer::Failed);
        assert_eq!(hub.handle(5, HelperMessage::Heartbeat), ServiceMessage::Ok);
    }

    #[test]
    fn exit_is_sent_once_stopping_and_to_other_versions() {
        let (_dir, hub) = hub();
        assert_eq!(hub.handle(1, HelperMessage::Hello { version: PROTOCOL_VERSION + 1, pid: 1 }), ServiceMessage::Exit);
        hub.notify(1, "x");
        hub.begin_exit();
        assert_eq!(hub.handle(1, HelperMessage::Heartbeat), ServiceMessage::Exit);
    }

    #[test]
    fn long_texts_still_fit_in_a_frame() {
        let (_dir, hub) = hub();
        hub.notify(1, &"漏".repeat(100_000));
        let reply = hub.handle(1, HelperMessage::Heartbeat);
        assert!(encode(&reply).unwrap().len() <= MAX_FRAME + 4);
    }

    #[test]
    fn works_without_a_journal() {
        let hub = Hub::new(None);
        hub.record(EventKind::ServiceStart, None, None, None);
        let reply = hub.handle(1, HelperMessage::Foreground { title: "t".into(), process: "p".into(), started_at_ms: 0, dwell_ms: 0 });
        assert_eq!(reply, ServiceMessage::Ok);
    }
}
