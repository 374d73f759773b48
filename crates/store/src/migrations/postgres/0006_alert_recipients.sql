-- E-mail recipients of an alert rule, one address a line ('' = no mail).
ALTER TABLE alert_rules ADD COLUMN recipients TEXT NOT NULL DEFAULT '';
