BEGIN;

-- Running downgrade 0017_archive_run_key_index -> 0016_dead_delivery_index

CREATE INDEX ix_process_run_observation_archive_process_run_id ON process_run_observation_archive (process_run_id);

UPDATE alembic_version SET version_num='0016_dead_delivery_index' WHERE alembic_version.version_num = '0017_archive_run_key_index';

-- Running downgrade 0016_dead_delivery_index -> 0015_job_delete_changes

DROP INDEX ix_delivery_state_dead;

UPDATE alembic_version SET version_num='0015_job_delete_changes' WHERE alembic_version.version_num = '0016_dead_delivery_index';

-- Running downgrade 0015_job_delete_changes -> 0014_ledger_compound_moves

DROP TRIGGER IF EXISTS job_queue_trace_change_delete ON job_queue;

DROP FUNCTION IF EXISTS job_queue_trace_change_delete();

DROP TRIGGER IF EXISTS job_queue_trace_change_truncate ON job_queue;

DROP FUNCTION IF EXISTS job_queue_trace_change_truncate();

UPDATE alembic_version SET version_num='0014_ledger_compound_moves' WHERE alembic_version.version_num = '0015_job_delete_changes';

-- Running downgrade 0014_ledger_compound_moves -> 0013_sqlite_autoincrement

DROP FUNCTION procobs_move_component_through(p_id uuid, p_to text, p_allowed text[], p_expect text, p_ended_at timestamptz, p_started_at timestamptz, p_error_ref text, p_output_ref text, p_evidence jsonb, p_at timestamptz, p_reason text, p_actor text, t_to text, t_allowed text[], t_ended_at timestamptz, t_started_at timestamptz, t_at timestamptz, t_reason text);

DROP FUNCTION procobs_insert_component_then(p_component_run_id uuid, p_process_run_id uuid, p_parent_run_id uuid, p_correlation_id text, p_dot_code text, p_component_role text, p_event_code text, p_queue_job_id uuid, p_standalone boolean, p_status text, p_source_system text, p_idempotency_key text, p_input_ref text, p_output_ref text, p_error_ref text, p_evidence_ref jsonb, p_started_at timestamptz, p_ended_at timestamptz, p_created_at timestamptz, p_reason text, p_actor text, t_to text, t_allowed text[], t_ended_at timestamptz, t_started_at timestamptz, t_at timestamptz, t_reason text);

DROP FUNCTION procobs_move_run_through(p_id uuid, p_to text, p_allowed text[], p_expect text, p_ended_at timestamptz, p_started_at timestamptz, p_error_ref text, p_output_ref text, p_evidence jsonb, p_at timestamptz, p_reason text, p_actor text, t_to text, t_allowed text[], t_ended_at timestamptz, t_started_at timestamptz, t_at timestamptz, t_reason text);

DROP FUNCTION procobs_insert_run_then(p_process_run_id uuid, p_process_candidate_code text, p_process_definition_code text, p_correlation_id text, p_parent_run_id uuid, p_status text, p_source_system text, p_idempotency_key text, p_input_ref text, p_output_ref text, p_error_ref text, p_evidence_ref jsonb, p_started_at timestamptz, p_ended_at timestamptz, p_created_at timestamptz, p_reason text, p_actor text, t_to text, t_allowed text[], t_ended_at timestamptz, t_started_at timestamptz, t_at timestamptz, t_reason text);

UPDATE alembic_version SET version_num='0013_sqlite_autoincrement' WHERE alembic_version.version_num = '0014_ledger_compound_moves';

-- Running downgrade 0013_sqlite_autoincrement -> 0012_ledger_functions

UPDATE alembic_version SET version_num='0012_ledger_functions' WHERE alembic_version.version_num = '0013_sqlite_autoincrement';

-- Running downgrade 0012_ledger_functions -> 0011_trace_summary

DROP FUNCTION procobs_move_component(p_id uuid, p_to text, p_allowed text[], p_expect text, p_ended_at timestamptz, p_started_at timestamptz, p_error_ref text, p_output_ref text, p_evidence jsonb, p_at timestamptz, p_reason text, p_actor text);

DROP FUNCTION procobs_insert_component(p_component_run_id uuid, p_process_run_id uuid, p_parent_run_id uuid, p_correlation_id text, p_dot_code text, p_component_role text, p_event_code text, p_queue_job_id uuid, p_standalone boolean, p_status text, p_source_system text, p_idempotency_key text, p_input_ref text, p_output_ref text, p_error_ref text, p_evidence_ref jsonb, p_started_at timestamptz, p_ended_at timestamptz, p_created_at timestamptz, p_reason text, p_actor text);

DROP FUNCTION procobs_move_run(p_id uuid, p_to text, p_allowed text[], p_expect text, p_ended_at timestamptz, p_started_at timestamptz, p_error_ref text, p_output_ref text, p_evidence jsonb, p_at timestamptz, p_reason text, p_actor text);

DROP FUNCTION procobs_insert_run(p_process_run_id uuid, p_process_candidate_code text, p_process_definition_code text, p_correlation_id text, p_parent_run_id uuid, p_status text, p_source_system text, p_idempotency_key text, p_input_ref text, p_output_ref text, p_error_ref text, p_evidence_ref jsonb, p_started_at timestamptz, p_ended_at timestamptz, p_created_at timestamptz, p_reason text, p_actor text);

UPDATE alembic_version SET version_num='0011_trace_summary' WHERE alembic_version.version_num = '0012_ledger_functions';

-- Running downgrade 0011_trace_summary -> 0010_retention_all

DROP TRIGGER IF EXISTS process_run_observation_trace_change_insert ON process_run_observation;

DROP TRIGGER IF EXISTS process_run_observation_trace_change_update ON process_run_observation;

DROP FUNCTION IF EXISTS process_run_observation_trace_change();

DROP TRIGGER IF EXISTS process_component_observation_trace_change_insert ON process_component_observation;

DROP TRIGGER IF EXISTS process_component_observation_trace_change_update ON process_component_observation;

DROP FUNCTION IF EXISTS process_component_observation_trace_change();

DROP TRIGGER IF EXISTS job_queue_trace_change_insert ON job_queue;

DROP TRIGGER IF EXISTS job_queue_trace_change_update ON job_queue;

DROP FUNCTION IF EXISTS job_queue_trace_change();

DROP INDEX ix_process_run_observation_archive_correlation_id;

DROP INDEX ix_process_component_observation_archive_correlation_id;

DROP TABLE discovery_summary_state;

DROP TABLE discovery_trace_change;

DROP INDEX ix_discovery_trace_class_candidate_code;

DROP TABLE discovery_trace_class;

DROP INDEX ix_discovery_trace_summary_candidate_code;

DROP INDEX ix_discovery_trace_summary_correlation_id;

DROP TABLE discovery_trace_summary;

UPDATE alembic_version SET version_num='0010_retention_all' WHERE alembic_version.version_num = '0011_trace_summary';

-- Running downgrade 0010_retention_all -> 0009_relay_scale

DROP TRIGGER IF EXISTS audit_log_refuse_delete ON audit_log;

DROP FUNCTION IF EXISTS procobs_leaves_only_archived_audit_log();

CREATE TRIGGER audit_log_refuse_delete BEFORE DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

DROP TRIGGER IF EXISTS audit_log_archive_refuse_update ON audit_log_archive;

DROP TRIGGER IF EXISTS audit_log_archive_refuse_delete ON audit_log_archive;

ALTER TABLE workflow_run DROP COLUMN raw_pruned_at;

CREATE INDEX ix_discovery_score_candidate_code_computed_at ON discovery_score (candidate_code, computed_at);

DROP INDEX ix_discovery_score_candidate_code_computed_at_score_id;

CREATE INDEX ix_dossier_snapshot_feature_slug_computed_at ON dossier_snapshot (feature_slug, computed_at);

DROP INDEX ix_dossier_snapshot_feature_slug_computed_at_snapshot_id;

DROP INDEX ix_dossier_snapshot_artifact_set_id;

DROP INDEX ix_dossier_snapshot_feature_slug_root_path_computed_at;

DROP INDEX ix_discovery_score_computed_at_score_id;

DROP INDEX ix_workflow_event_received_at_event_seq;

DROP INDEX ix_audit_log_recorded_at_audit_id;

DROP INDEX ix_event_outbox_recorded_at_seq;

DROP INDEX ix_audit_log_archive_recorded_at;

DROP INDEX ix_audit_log_archive_archived_at;

DROP TABLE audit_log_archive;

UPDATE alembic_version SET version_num='0009_relay_scale' WHERE alembic_version.version_num = '0010_retention_all';

-- Running downgrade 0009_relay_scale -> 0008_sink_link_local

ALTER TABLE delivery_state RESET (fillfactor, autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);

DROP INDEX ix_delivery_state_undelivered_correlation;

DROP INDEX ix_delivery_state_open;

CREATE INDEX ix_delivery_state_sink_correlation_id_seq ON delivery_state (sink, correlation_id, seq);

CREATE INDEX ix_delivery_state_sink_state ON delivery_state (sink, state);

UPDATE alembic_version SET version_num='0008_sink_link_local' WHERE alembic_version.version_num = '0009_relay_scale';

-- Running downgrade 0008_sink_link_local -> 0007_workflow

ALTER TABLE delivery_sink DROP COLUMN allow_link_local;

UPDATE alembic_version SET version_num='0007_workflow' WHERE alembic_version.version_num = '0008_sink_link_local';

-- Running downgrade 0007_workflow -> 0006_discovery

DROP TRIGGER IF EXISTS workflow_event_refuse_update ON workflow_event;

DROP INDEX ix_workflow_run_placement_first_received_at;

DROP INDEX ix_workflow_run_source_parent_run_key;

DROP TABLE workflow_run;

DROP TABLE workflow_event;

UPDATE alembic_version SET version_num='0006_discovery' WHERE alembic_version.version_num = '0007_workflow';

-- Running downgrade 0006_discovery -> 0005_dossier

DROP TRIGGER IF EXISTS birth_registry_refuse_update ON birth_registry;

DROP TRIGGER IF EXISTS birth_registry_refuse_delete ON birth_registry;

DROP TABLE birth_registry;

DROP TABLE process_definition;

DROP TABLE process_candidate;

DROP INDEX ix_discovery_score_computed_at;

DROP INDEX ix_discovery_score_candidate_code_computed_at;

DROP TABLE discovery_score;

UPDATE alembic_version SET version_num='0005_dossier' WHERE alembic_version.version_num = '0006_discovery';

-- Running downgrade 0005_dossier -> 0004_delivery

DROP TRIGGER IF EXISTS dossier_artifact_set_refuse_update ON dossier_artifact_set;

DROP TRIGGER IF EXISTS dossier_artifact_refuse_update ON dossier_artifact;

DROP TRIGGER IF EXISTS dossier_snapshot_refuse_update ON dossier_snapshot;

DROP TABLE dossier_baseline;

DROP INDEX ix_dossier_snapshot_feature_slug_computed_at;

DROP TABLE dossier_snapshot;

DROP INDEX ux_dossier_artifact_placeholder_key;

DROP TABLE dossier_artifact;

DROP TABLE dossier_artifact_set;

UPDATE alembic_version SET version_num='0004_delivery' WHERE alembic_version.version_num = '0005_dossier';

-- Running downgrade 0004_delivery -> 0003_archive

DROP INDEX ix_delivery_state_sink_state;

DROP INDEX ix_delivery_state_sink_correlation_id_seq;

DROP INDEX ix_delivery_state_claimable;

DROP TABLE delivery_state;

DROP TABLE delivery_sink;

DROP TABLE delivery_cursor;

UPDATE alembic_version SET version_num='0003_archive' WHERE alembic_version.version_num = '0004_delivery';

-- Running downgrade 0003_archive -> 0002_events

DROP TABLE stuck_sla_override;

DROP INDEX ix_process_status_history_archive_process_run_id;

DROP INDEX ix_process_status_history_archive_archived_at;

DROP TABLE process_status_history_archive;

DROP INDEX ix_process_run_observation_archive_process_run_id;

DROP INDEX ix_process_run_observation_archive_archived_at;

DROP TABLE process_run_observation_archive;

DROP INDEX ix_process_component_observation_archive_process_run_id;

DROP INDEX ix_process_component_observation_archive_archived_at;

DROP TABLE process_component_observation_archive;

UPDATE alembic_version SET version_num='0002_events' WHERE alembic_version.version_num = '0003_archive';

-- Running downgrade 0002_events -> 0001_ledger

DROP TRIGGER IF EXISTS event_outbox_refuse_update ON event_outbox;

DROP TRIGGER IF EXISTS audit_log_refuse_update ON audit_log;

DROP TRIGGER IF EXISTS audit_log_refuse_delete ON audit_log;

DROP INDEX ix_event_outbox_tx_id_seq;

DROP INDEX ix_event_outbox_event_type;

DROP INDEX ix_event_outbox_correlation_id;

DROP TABLE event_outbox;

DROP TABLE process_dot_runtime;

DROP TABLE piece_event_runtime;

DROP INDEX ix_event_type_registry_family;

DROP TABLE event_type_registry;

DROP INDEX ix_audit_log_event_type;

DROP INDEX ix_audit_log_correlation_id;

DROP INDEX ix_audit_log_action;

DROP TABLE audit_log;

UPDATE alembic_version SET version_num='0001_ledger' WHERE alembic_version.version_num = '0002_events';

-- Running downgrade 0001_ledger -> 

DROP TRIGGER IF EXISTS process_status_history_refuse_update ON process_status_history;

DROP FUNCTION IF EXISTS procobs_refuse_change();

DROP INDEX uq_process_component_observation_idempotency_key;

DROP INDEX ix_process_component_observation_queue_job_id;

DROP INDEX ix_process_component_observation_process_run_id;

DROP INDEX ix_process_component_observation_dot_code;

DROP INDEX ix_process_component_observation_correlation_id;

DROP TABLE process_component_observation;

DROP INDEX ix_process_status_history_subject_id_history_id;

DROP INDEX ix_process_status_history_process_run_id;

DROP TABLE process_status_history;

DROP INDEX uq_process_run_observation_idempotency_key;

DROP INDEX ix_process_run_observation_status;

DROP INDEX ix_process_run_observation_process_candidate_code;

DROP INDEX ix_process_run_observation_parent_run_id;

DROP INDEX ix_process_run_observation_correlation_id;

DROP TABLE process_run_observation;

DROP INDEX uq_job_queue_idempotency_key;

DROP INDEX ix_job_queue_status;

DROP INDEX ix_job_queue_run_id;

DROP INDEX ix_job_queue_job_kind;

DROP TABLE job_queue;

DELETE FROM alembic_version WHERE alembic_version.version_num = '0001_ledger';

COMMIT;

