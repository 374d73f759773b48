//! lanward-deploy: the planning and scheduling of software deployments
//! (§4(6), §4(7), §4(10)). Pure logic: no I/O, no storage, no clock — the
//! server passes the time in and persists what this crate decides.

pub mod caps;
pub mod office;
pub mod plan;
pub mod sim;
pub mod spread;
pub mod state;
pub mod target;
pub mod window;

pub use caps::{BandwidthBuckets, Caps};
pub use office::{
    compare_versions, office_progress, OfficeProgress, OfficeRecipe, OfficeStatus, OfficeVersion,
    RecipeError,
};
pub use plan::{
    waves_by_department, Action, DeploymentStatus, Gate, Plan, PlanSpec, Scheduler,
    SchedulerMemory, Wave, WaveCounts, WaveState,
};
pub use spread::spread_starts;
pub use state::{transition, Event, InvalidTransition, TargetState};
pub use target::{AssetId, Candidate, Resolved, TargetError, TargetSpec};
pub use window::{jst, MaintenanceWindow, WindowError, WindowSpec, Windows};
