-- Bytes a site cache fetched from the server, per deployment and site: with
-- the targets' own bytes, the site's WAN traffic.
CREATE TABLE deployment_site_bytes (
    deployment_id BIGINT NOT NULL REFERENCES deployments(id),
    site TEXT NOT NULL,
    cache_bytes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (deployment_id, site)
);
