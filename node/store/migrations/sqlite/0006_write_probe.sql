-- One row that readiness rewrites to learn whether the database takes
-- writes (a full disk fails writes while reads and pings still answer).
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
);
