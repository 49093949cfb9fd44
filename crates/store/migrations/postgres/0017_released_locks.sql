-- An erased person's no-show lock that was still running at the erasure keeps its ID number's
-- index until it ends; then the index is replaced by a random one, once, and this says when.
ALTER TABLE no_show_locks ADD COLUMN id_released_at BIGINT;
