//! Running as a system service: a systemd unit on Linux, the Windows
//! service control manager on Windows (see `windows.rs`).

#[cfg(windows)]
pub mod windows;

/// The systemd unit `lanward-agent service-unit` prints, for
/// `/etc/systemd/system/lanward-agent.service`.
pub fn systemd_unit(binary: &str, data_dir: &str) -> String {
    format!(
        "[Unit]
Description=lanward agent (inventory and operations)
Documentation=man:lanward-agent(8)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={binary} run --data {data_dir}
Restart=always
RestartSec=10
# The agent reads hardware and package data; it needs no capabilities beyond root's read access.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={data_dir}
PrivateTmp=yes
StateDirectory=lanward-agent
StateDirectoryMode=0700

[Install]
WantedBy=multi-user.target
"
    )
}
