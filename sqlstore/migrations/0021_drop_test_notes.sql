-- Databases made by builds before 0021 have the test_notes table of the
-- test-only ops; a release build has neither (sqlstore/testnotes*.go).
DROP TABLE IF EXISTS test_notes;
