-- Protected releases: a product's day whose opening the waiting room guards. The seed decides
-- the pre-queue's order; its SHA-256 is published when the release is protected and the seed
-- itself once the release opens.
CREATE TABLE protected_releases (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL,
    day TEXT NOT NULL,
    prequeue_opens_at INTEGER NOT NULL,
    opens_at INTEGER NOT NULL,
    window_secs INTEGER NOT NULL,
    seed BLOB NOT NULL,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (product_id, day)
);
