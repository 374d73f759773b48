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

/// What `lanward-agent service …` says on Linux, where systemd does the job.
pub fn systemd_instructions(data_dir: &str) -> String {
    format!(
        "Linux では systemd でサービスとして動かします (on Linux, systemd runs the agent):
  lanward-agent service-unit --data {data_dir} > /etc/systemd/system/lanward-agent.service
  systemctl daemon-reload
  systemctl enable --now lanward-agent      # 登録して開始 (install and start)
  systemctl stop lanward-agent              # 停止 (stop)
  systemctl disable --now lanward-agent     # 登録解除 (uninstall)
"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_unit_runs_the_agent_on_the_data_directory() {
        let unit = super::systemd_unit("/usr/bin/lanward-agent", "/var/lib/lanward-agent");
        assert!(unit.contains("ExecStart=/usr/bin/lanward-agent run --data /var/lib/lanward-agent"));
        assert!(super::systemd_instructions("/srv/a").contains("service-unit --data /srv/a"));
    }
}
