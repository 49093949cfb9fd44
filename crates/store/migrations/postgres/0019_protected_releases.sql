-- Protected releases: a product's day whose opening the waiting room guards. The seed decides
-- the pre-queue's order; its SHA-256 is published when the release is protected and the seed
-- itself once the release opens.
CREATE TABLE protected_releases (
    id BIGSERIAL PRIMARY KEY,
    product_id BIGINT NOT NULL,
    day TEXT NOT NULL,
    prequeue_opens_at BIGINT NOT NULL,
    opens_at BIGINT NOT NULL,
    window_secs BIGINT NOT NULL,
    seed BYTEA NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (product_id, day)
);
