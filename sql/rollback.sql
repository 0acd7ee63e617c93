BEGIN;

-- Running downgrade 0011_trace_summary -> 0008_sink_link_local

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

UPDATE alembic_version SET version_num='0008_sink_link_local' WHERE alembic_version.version_num = '0011_trace_summary';

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

