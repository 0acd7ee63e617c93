BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001_ledger

CREATE TABLE job_queue (
    job_id UUID NOT NULL, 
    job_kind TEXT NOT NULL, 
    run_id UUID, 
    correlation_id TEXT, 
    idempotency_key TEXT, 
    status TEXT DEFAULT 'queued' NOT NULL, 
    payload JSONB, 
    attempts INTEGER DEFAULT '0' NOT NULL, 
    enqueued_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    started_at TIMESTAMP WITH TIME ZONE, 
    finished_at TIMESTAMP WITH TIME ZONE, 
    last_error TEXT, 
    CONSTRAINT pk_job_queue PRIMARY KEY (job_id), 
    CONSTRAINT ck_job_queue_finished_at_iff_terminal CHECK ((finished_at IS NOT NULL) = (status IN ('completed', 'failed', 'cancelled'))), 
    CONSTRAINT ck_job_queue_status CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')), 
    CONSTRAINT ck_job_queue_attempts CHECK (attempts >= 0)
);

CREATE INDEX ix_job_queue_job_kind ON job_queue (job_kind);

CREATE INDEX ix_job_queue_run_id ON job_queue (run_id);

CREATE INDEX ix_job_queue_status ON job_queue (status);

CREATE UNIQUE INDEX uq_job_queue_idempotency_key ON job_queue (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE process_run_observation (
    process_run_id UUID NOT NULL, 
    process_candidate_code TEXT NOT NULL, 
    process_definition_code TEXT, 
    correlation_id TEXT NOT NULL, 
    parent_run_id UUID, 
    status TEXT DEFAULT 'observed' NOT NULL, 
    source_system TEXT NOT NULL, 
    idempotency_key TEXT, 
    input_ref TEXT, 
    output_ref TEXT, 
    error_ref TEXT, 
    evidence_ref JSONB, 
    started_at TIMESTAMP WITH TIME ZONE, 
    ended_at TIMESTAMP WITH TIME ZONE, 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    CONSTRAINT pk_process_run_observation PRIMARY KEY (process_run_id), 
    CONSTRAINT ck_process_run_observation_ended_at_iff_terminal CHECK ((ended_at IS NOT NULL) = (status IN ('completed', 'failed', 'cancelled'))), 
    CONSTRAINT ck_process_run_observation_dry_run_flagged CHECK ((source_system = 'dry_run') = coalesce((evidence_ref -> 'dry_run') = 'true'::jsonb, false)), 
    CONSTRAINT ck_process_run_observation_source_system CHECK (source_system IN ('dot_runtime', 'job_queue', 'workflow_engine', 'domain_event', 'dry_run')), 
    CONSTRAINT ck_process_run_observation_status CHECK (status IN ('observed', 'started', 'step_started', 'step_completed', 'completed', 'failed', 'stuck', 'cancelled', 'orphan')), 
    CONSTRAINT ck_process_run_observation_ended_after_started CHECK (ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at)
);

CREATE INDEX ix_process_run_observation_correlation_id ON process_run_observation (correlation_id);

CREATE INDEX ix_process_run_observation_parent_run_id ON process_run_observation (parent_run_id);

CREATE INDEX ix_process_run_observation_process_candidate_code ON process_run_observation (process_candidate_code);

CREATE INDEX ix_process_run_observation_status ON process_run_observation (status);

CREATE UNIQUE INDEX uq_process_run_observation_idempotency_key ON process_run_observation (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE process_status_history (
    history_id BIGSERIAL NOT NULL, 
    subject_kind TEXT NOT NULL, 
    subject_id UUID NOT NULL, 
    process_run_id UUID, 
    from_status TEXT, 
    to_status TEXT NOT NULL, 
    changed_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    reason TEXT, 
    actor TEXT, 
    CONSTRAINT pk_process_status_history PRIMARY KEY (history_id), 
    CONSTRAINT ck_process_status_history_from_status CHECK (from_status IS NULL OR from_status IN ('observed', 'started', 'step_started', 'step_completed', 'completed', 'failed', 'stuck', 'cancelled', 'orphan')), 
    CONSTRAINT ck_process_status_history_subject_kind CHECK (subject_kind IN ('run', 'component')), 
    CONSTRAINT ck_process_status_history_to_status CHECK (to_status IN ('observed', 'started', 'step_started', 'step_completed', 'completed', 'failed', 'stuck', 'cancelled', 'orphan'))
);

CREATE INDEX ix_process_status_history_process_run_id ON process_status_history (process_run_id);

CREATE INDEX ix_process_status_history_subject_id_history_id ON process_status_history (subject_id, history_id);

CREATE TABLE process_component_observation (
    component_run_id UUID NOT NULL, 
    process_run_id UUID, 
    parent_run_id UUID, 
    correlation_id TEXT NOT NULL, 
    dot_code TEXT, 
    component_role TEXT, 
    event_code TEXT, 
    queue_job_id UUID, 
    standalone BOOLEAN DEFAULT false NOT NULL, 
    status TEXT DEFAULT 'observed' NOT NULL, 
    source_system TEXT NOT NULL, 
    idempotency_key TEXT, 
    input_ref TEXT, 
    output_ref TEXT, 
    error_ref TEXT, 
    evidence_ref JSONB, 
    started_at TIMESTAMP WITH TIME ZONE, 
    ended_at TIMESTAMP WITH TIME ZONE, 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    CONSTRAINT pk_process_component_observation PRIMARY KEY (component_run_id), 
    CONSTRAINT ck_process_component_observation_ended_at_iff_terminal CHECK ((ended_at IS NOT NULL) = (status IN ('completed', 'failed', 'cancelled'))), 
    CONSTRAINT ck_process_component_observation_dry_run_flagged CHECK ((source_system = 'dry_run') = coalesce((evidence_ref -> 'dry_run') = 'true'::jsonb, false)), 
    CONSTRAINT ck_process_component_observation_component_role CHECK (component_role IS NULL OR component_role IN ('producer', 'verifier', 'step')), 
    CONSTRAINT ck_process_component_observation_not_anonymous CHECK (process_run_id IS NOT NULL OR standalone OR status = 'orphan'), 
    CONSTRAINT ck_process_component_observation_source_system CHECK (source_system IN ('dot_runtime', 'job_queue', 'workflow_engine', 'domain_event', 'dry_run')), 
    CONSTRAINT ck_process_component_observation_status CHECK (status IN ('observed', 'started', 'step_started', 'step_completed', 'completed', 'failed', 'stuck', 'cancelled', 'orphan')), 
    CONSTRAINT ck_process_component_observation_standalone_has_no_run CHECK (NOT standalone OR process_run_id IS NULL), 
    CONSTRAINT ck_process_component_observation_ended_after_started CHECK (ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at), 
    CONSTRAINT fk_process_component_observation_process_run_id_process_66bc FOREIGN KEY(process_run_id) REFERENCES process_run_observation (process_run_id)
);

CREATE INDEX ix_process_component_observation_correlation_id ON process_component_observation (correlation_id);

CREATE INDEX ix_process_component_observation_dot_code ON process_component_observation (dot_code);

CREATE INDEX ix_process_component_observation_process_run_id ON process_component_observation (process_run_id);

CREATE INDEX ix_process_component_observation_queue_job_id ON process_component_observation (queue_job_id);

CREATE UNIQUE INDEX uq_process_component_observation_idempotency_key ON process_component_observation (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE OR REPLACE FUNCTION procobs_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER process_status_history_refuse_update BEFORE UPDATE ON process_status_history FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

INSERT INTO alembic_version (version_num) VALUES ('0001_ledger') RETURNING alembic_version.version_num;

-- Running upgrade 0001_ledger -> 0002_events

CREATE TABLE audit_log (
    audit_id BIGSERIAL NOT NULL, 
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    actor TEXT NOT NULL, 
    action TEXT NOT NULL, 
    event_id UUID, 
    event_type TEXT, 
    correlation_id TEXT, 
    subject TEXT, 
    details JSONB, 
    CONSTRAINT pk_audit_log PRIMARY KEY (audit_id)
);

CREATE INDEX ix_audit_log_action ON audit_log (action);

CREATE INDEX ix_audit_log_correlation_id ON audit_log (correlation_id);

CREATE INDEX ix_audit_log_event_type ON audit_log (event_type);

CREATE TABLE event_type_registry (
    event_type TEXT NOT NULL, 
    family TEXT NOT NULL, 
    stream TEXT NOT NULL, 
    lane TEXT NOT NULL, 
    severity TEXT NOT NULL, 
    active BOOLEAN DEFAULT false NOT NULL, 
    schema_version INTEGER DEFAULT '1' NOT NULL, 
    description TEXT NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE, 
    updated_by TEXT, 
    CONSTRAINT pk_event_type_registry PRIMARY KEY (event_type), 
    CONSTRAINT ck_event_type_registry_family CHECK (family IN ('process', 'dossier', 'domain')), 
    CONSTRAINT ck_event_type_registry_lane CHECK (lane IN ('delayed', 'immediate')), 
    CONSTRAINT ck_event_type_registry_severity CHECK (severity IN ('info', 'warning', 'error')), 
    CONSTRAINT ck_event_type_registry_stream CHECK (stream IN ('update', 'alert'))
);

CREATE INDEX ix_event_type_registry_family ON event_type_registry (family);

CREATE TABLE piece_event_runtime (
    singleton BOOLEAN DEFAULT true NOT NULL, 
    emit_enabled BOOLEAN DEFAULT true NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE, 
    updated_by TEXT, 
    CONSTRAINT pk_piece_event_runtime PRIMARY KEY (singleton), 
    CONSTRAINT ck_piece_event_runtime_one_row CHECK (singleton)
);

CREATE TABLE process_dot_runtime (
    singleton BOOLEAN DEFAULT true NOT NULL, 
    dry_run_only BOOLEAN DEFAULT false NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE, 
    updated_by TEXT, 
    CONSTRAINT pk_process_dot_runtime PRIMARY KEY (singleton), 
    CONSTRAINT ck_process_dot_runtime_one_row CHECK (singleton)
);

CREATE TABLE event_outbox (
    seq BIGSERIAL NOT NULL, 
    event_id UUID NOT NULL, 
    tx_id BIGINT DEFAULT (pg_current_xact_id()::text::bigint), 
    event_type TEXT NOT NULL, 
    source TEXT NOT NULL, 
    subject TEXT, 
    correlation_id TEXT NOT NULL, 
    causation_id TEXT, 
    process_run_id UUID, 
    schema_version INTEGER NOT NULL, 
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    recorded_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    safe_payload JSONB NOT NULL, 
    CONSTRAINT pk_event_outbox PRIMARY KEY (seq), 
    CONSTRAINT fk_event_outbox_event_type_event_type_registry FOREIGN KEY(event_type) REFERENCES event_type_registry (event_type), 
    CONSTRAINT uq_event_outbox_event_id UNIQUE (event_id)
);

CREATE INDEX ix_event_outbox_correlation_id ON event_outbox (correlation_id);

CREATE INDEX ix_event_outbox_event_type ON event_outbox (event_type);

CREATE INDEX ix_event_outbox_tx_id_seq ON event_outbox (tx_id, seq);

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('process.run.started', 'process', 'update', 'delayed', 'info', false, 1, 'A process run started.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('process.run.completed', 'process', 'update', 'delayed', 'info', false, 1, 'A process run completed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('process.run.failed', 'process', 'alert', 'immediate', 'warning', false, 1, 'A process run failed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('process.step.started', 'process', 'update', 'delayed', 'info', false, 1, 'A component (step) of a run started.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('process.step.completed', 'process', 'update', 'delayed', 'info', false, 1, 'A component (step) of a run completed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('process.correlation.missing', 'process', 'alert', 'immediate', 'warning', false, 1, 'A component was reported under a correlation_id that matches no run.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('process.evidence.missing', 'process', 'alert', 'immediate', 'warning', false, 1, 'A run or component completed without evidence.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('mission_dossier_artifact_indexed', 'dossier', 'update', 'delayed', 'info', false, 1, 'A dossier artifact was indexed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('mission_dossier_artifact_missing', 'dossier', 'alert', 'immediate', 'warning', false, 1, 'A required dossier artifact is missing or unreadable.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('mission_dossier_snapshot_computed', 'dossier', 'update', 'delayed', 'info', false, 1, 'A dossier snapshot and its parity hash were computed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('mission_dossier_parity_drift_detected', 'dossier', 'alert', 'immediate', 'warning', false, 1, 'The dossier''s parity hash differs from its baseline.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('plan.created', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: plan created.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('plan.phase_changed', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: plan phase changed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('plan.state_changed', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: plan state changed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('plan.applied', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: plan applied.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('plan.cancelled', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: plan cancelled.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('plan.errored', 'domain', 'alert', 'immediate', 'error', false, 1, 'Domain event: plan errored.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('decision.created', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: decision created.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('decision.approved', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: decision approved.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('decision.corrected', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: decision corrected.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('decision.superseded', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: decision superseded.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('invariant.reconciled', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: invariant reconciled.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('invariant.violated', 'domain', 'alert', 'immediate', 'error', false, 1, 'Domain event: invariant violated.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('invariant.enforced', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: invariant enforced.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('actor.invoked', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: actor invoked.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('actor.completed', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: actor completed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('actor.errored', 'domain', 'alert', 'immediate', 'warning', false, 1, 'Domain event: actor errored.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('actor.escalated', 'domain', 'alert', 'immediate', 'warning', false, 1, 'Domain event: actor escalated.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('tool.invoked', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: tool invoked.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('tool.completed', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: tool completed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('tool.errored', 'domain', 'alert', 'immediate', 'warning', false, 1, 'Domain event: tool errored.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('tool.retried', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: tool retried.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('resource.accessed', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: resource accessed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('resource.modified', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: resource modified.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('resource.indexed', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: resource indexed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('sandbox.created', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: sandbox created.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('sandbox.committed', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: sandbox committed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('sandbox.rolled_back', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: sandbox rolled back.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('checkpoint.created', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: checkpoint created.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('checkpoint.restored', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: checkpoint restored.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('context.built', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: context built.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('context.query_executed', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: context query executed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('validation.started', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: validation started.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('validation.passed', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: validation passed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('validation.failed', 'domain', 'alert', 'immediate', 'warning', false, 1, 'Domain event: validation failed.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('session.created', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: session created.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('session.message_sent', 'domain', 'update', 'delayed', 'info', false, 1, 'Domain event: session message sent.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('budget.warning', 'domain', 'alert', 'delayed', 'warning', false, 1, 'Domain event: budget warning.');

INSERT INTO event_type_registry (event_type, family, stream, lane, severity, active, schema_version, description) VALUES ('budget.exceeded', 'domain', 'alert', 'immediate', 'error', false, 1, 'Domain event: budget exceeded.');

INSERT INTO process_dot_runtime (singleton, dry_run_only) VALUES (true, false);

INSERT INTO piece_event_runtime (singleton, emit_enabled) VALUES (true, true);

CREATE TRIGGER event_outbox_refuse_update BEFORE UPDATE ON event_outbox FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

CREATE TRIGGER audit_log_refuse_update BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

CREATE TRIGGER audit_log_refuse_delete BEFORE DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

UPDATE alembic_version SET version_num='0002_events' WHERE alembic_version.version_num = '0001_ledger';

-- Running upgrade 0002_events -> 0003_archive

CREATE TABLE process_component_observation_archive (
    component_run_id UUID NOT NULL, 
    process_run_id UUID, 
    parent_run_id UUID, 
    correlation_id TEXT NOT NULL, 
    dot_code TEXT, 
    component_role TEXT, 
    event_code TEXT, 
    queue_job_id UUID, 
    standalone BOOLEAN NOT NULL, 
    status TEXT NOT NULL, 
    source_system TEXT NOT NULL, 
    idempotency_key TEXT, 
    input_ref TEXT, 
    output_ref TEXT, 
    error_ref TEXT, 
    evidence_ref JSONB, 
    started_at TIMESTAMP WITH TIME ZONE, 
    ended_at TIMESTAMP WITH TIME ZONE, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    archived_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_process_component_observation_archive PRIMARY KEY (component_run_id)
);

CREATE INDEX ix_process_component_observation_archive_archived_at ON process_component_observation_archive (archived_at);

CREATE INDEX ix_process_component_observation_archive_process_run_id ON process_component_observation_archive (process_run_id);

CREATE TABLE process_run_observation_archive (
    process_run_id UUID NOT NULL, 
    process_candidate_code TEXT NOT NULL, 
    process_definition_code TEXT, 
    correlation_id TEXT NOT NULL, 
    parent_run_id UUID, 
    status TEXT NOT NULL, 
    source_system TEXT NOT NULL, 
    idempotency_key TEXT, 
    input_ref TEXT, 
    output_ref TEXT, 
    error_ref TEXT, 
    evidence_ref JSONB, 
    started_at TIMESTAMP WITH TIME ZONE, 
    ended_at TIMESTAMP WITH TIME ZONE, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    archived_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_process_run_observation_archive PRIMARY KEY (process_run_id)
);

CREATE INDEX ix_process_run_observation_archive_archived_at ON process_run_observation_archive (archived_at);

CREATE INDEX ix_process_run_observation_archive_process_run_id ON process_run_observation_archive (process_run_id);

CREATE TABLE process_status_history_archive (
    history_id BIGINT NOT NULL, 
    subject_kind TEXT NOT NULL, 
    subject_id UUID NOT NULL, 
    process_run_id UUID, 
    from_status TEXT, 
    to_status TEXT NOT NULL, 
    changed_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    reason TEXT, 
    actor TEXT, 
    archived_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_process_status_history_archive PRIMARY KEY (history_id)
);

CREATE INDEX ix_process_status_history_archive_archived_at ON process_status_history_archive (archived_at);

CREATE INDEX ix_process_status_history_archive_process_run_id ON process_status_history_archive (process_run_id);

CREATE TABLE stuck_sla_override (
    process_candidate_code TEXT NOT NULL, 
    sla_seconds INTEGER NOT NULL, 
    reason TEXT, 
    set_by TEXT, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_stuck_sla_override PRIMARY KEY (process_candidate_code), 
    CONSTRAINT ck_stuck_sla_override_sla_seconds_positive CHECK (sla_seconds > 0)
);

UPDATE alembic_version SET version_num='0003_archive' WHERE alembic_version.version_num = '0002_events';

-- Running upgrade 0003_archive -> 0004_delivery

CREATE TABLE delivery_cursor (
    sink TEXT NOT NULL, 
    last_tx_id BIGINT DEFAULT '0' NOT NULL, 
    last_seq BIGINT DEFAULT '0' NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_delivery_cursor PRIMARY KEY (sink)
);

CREATE TABLE delivery_sink (
    name TEXT NOT NULL, 
    kind TEXT NOT NULL, 
    url TEXT, 
    path TEXT, 
    secret_env TEXT, 
    timeout_seconds FLOAT DEFAULT '10' NOT NULL, 
    dead_after_rejections INTEGER DEFAULT '5' NOT NULL, 
    dead_after_attempts INTEGER, 
    backoff_base_seconds FLOAT DEFAULT '1' NOT NULL, 
    backoff_cap_seconds FLOAT DEFAULT '300' NOT NULL, 
    ordered BOOLEAN DEFAULT false NOT NULL, 
    event_types JSONB, 
    enabled BOOLEAN DEFAULT true NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    CONSTRAINT pk_delivery_sink PRIMARY KEY (name), 
    CONSTRAINT ck_delivery_sink_backoff CHECK (backoff_base_seconds > 0 AND backoff_cap_seconds >= backoff_base_seconds), 
    CONSTRAINT ck_delivery_sink_dead_after_attempts CHECK (dead_after_attempts IS NULL OR dead_after_attempts >= 1), 
    CONSTRAINT ck_delivery_sink_dead_after_rejections CHECK (dead_after_rejections >= 1), 
    CONSTRAINT ck_delivery_sink_file_has_path CHECK (kind <> 'file' OR path IS NOT NULL), 
    CONSTRAINT ck_delivery_sink_webhook_has_url_and_secret_env CHECK (kind <> 'webhook' OR (url IS NOT NULL AND secret_env IS NOT NULL)), 
    CONSTRAINT ck_delivery_sink_kind CHECK (kind IN ('webhook', 'file', 'null')), 
    CONSTRAINT ck_delivery_sink_timeout CHECK (timeout_seconds > 0)
);

CREATE TABLE delivery_state (
    event_id UUID NOT NULL, 
    sink TEXT NOT NULL, 
    seq BIGINT NOT NULL, 
    correlation_id TEXT NOT NULL, 
    state TEXT DEFAULT 'pending' NOT NULL, 
    attempts INTEGER DEFAULT '0' NOT NULL, 
    rejections INTEGER DEFAULT '0' NOT NULL, 
    next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    locked_until TIMESTAMP WITH TIME ZONE, 
    locked_by TEXT, 
    lock_token UUID, 
    last_error TEXT, 
    errors JSONB, 
    delivered_at TIMESTAMP WITH TIME ZONE, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_delivery_state PRIMARY KEY (event_id, sink), 
    CONSTRAINT ck_delivery_state_attempts CHECK (attempts >= 0), 
    CONSTRAINT ck_delivery_state_delivered_at CHECK ((state = 'delivered') = (delivered_at IS NOT NULL)), 
    CONSTRAINT ck_delivery_state_lock_iff_delivering CHECK ((state = 'delivering') = (locked_until IS NOT NULL AND lock_token IS NOT NULL)), 
    CONSTRAINT ck_delivery_state_rejections CHECK (rejections >= 0 AND rejections <= attempts), 
    CONSTRAINT ck_delivery_state_pending_unattempted CHECK (state <> 'pending' OR attempts = 0), 
    CONSTRAINT ck_delivery_state_retry_attempted CHECK (state <> 'retry' OR attempts >= 1), 
    CONSTRAINT ck_delivery_state_state CHECK (state IN ('pending', 'delivering', 'delivered', 'retry', 'dead')), 
    CONSTRAINT fk_delivery_state_event_id_event_outbox FOREIGN KEY(event_id) REFERENCES event_outbox (event_id)
);

CREATE INDEX ix_delivery_state_claimable ON delivery_state (sink, next_attempt_at, seq) WHERE state IN ('pending', 'retry');

CREATE INDEX ix_delivery_state_sink_correlation_id_seq ON delivery_state (sink, correlation_id, seq);

CREATE INDEX ix_delivery_state_sink_state ON delivery_state (sink, state);

UPDATE alembic_version SET version_num='0004_delivery' WHERE alembic_version.version_num = '0003_archive';

-- Running upgrade 0004_delivery -> 0005_dossier

CREATE TABLE dossier_artifact_set (
    artifact_set_id UUID NOT NULL, 
    rows_digest TEXT NOT NULL, 
    artifact_count INTEGER NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_dossier_artifact_set PRIMARY KEY (artifact_set_id), 
    CONSTRAINT ck_dossier_artifact_set_artifact_count CHECK (artifact_count >= 0), 
    CONSTRAINT ck_dossier_artifact_set_rows_digest CHECK (length(rows_digest) = 64), 
    CONSTRAINT uq_dossier_artifact_set_rows_digest UNIQUE (rows_digest)
);

CREATE TABLE dossier_artifact (
    artifact_id BIGSERIAL NOT NULL, 
    artifact_set_id UUID NOT NULL, 
    artifact_key TEXT NOT NULL, 
    artifact_class TEXT NOT NULL, 
    relative_path TEXT, 
    path_pattern TEXT NOT NULL, 
    content_sha256 TEXT, 
    size_bytes BIGINT, 
    mtime_ns BIGINT, 
    ctime_ns BIGINT, 
    wp_id TEXT, 
    step_id TEXT, 
    required_status TEXT NOT NULL, 
    blocking BOOLEAN NOT NULL, 
    present BOOLEAN NOT NULL, 
    reason_code TEXT, 
    reason_detail TEXT, 
    CONSTRAINT pk_dossier_artifact PRIMARY KEY (artifact_id), 
    CONSTRAINT ck_dossier_artifact_placeholder CHECK ((relative_path IS NULL AND reason_code IS NOT NULL AND reason_code = 'not_found') OR (relative_path IS NOT NULL AND (reason_code IS NULL OR reason_code <> 'not_found'))), 
    CONSTRAINT ck_dossier_artifact_blocking CHECK (NOT blocking OR required_status = 'required'), 
    CONSTRAINT ck_dossier_artifact_artifact_class CHECK (artifact_class IN ('input', 'workflow', 'output', 'evidence', 'policy', 'runtime')), 
    CONSTRAINT ck_dossier_artifact_reason_code CHECK (reason_code IS NULL OR reason_code IN ('not_found', 'unreadable', 'invalid_format', 'deleted_after_scan')), 
    CONSTRAINT ck_dossier_artifact_required_status CHECK (required_status IN ('required', 'optional')), 
    CONSTRAINT ck_dossier_artifact_present_or_reason CHECK ((present AND content_sha256 IS NOT NULL AND size_bytes IS NOT NULL AND mtime_ns IS NOT NULL AND ctime_ns IS NOT NULL AND reason_code IS NULL) OR (NOT present AND content_sha256 IS NULL AND reason_code IS NOT NULL)), 
    CONSTRAINT ck_dossier_artifact_content_sha256 CHECK (content_sha256 IS NULL OR length(content_sha256) = 64), 
    CONSTRAINT ck_dossier_artifact_size_bytes CHECK (size_bytes IS NULL OR size_bytes >= 0), 
    CONSTRAINT fk_dossier_artifact_artifact_set_id_dossier_artifact_set FOREIGN KEY(artifact_set_id) REFERENCES dossier_artifact_set (artifact_set_id), 
    CONSTRAINT uq_dossier_artifact_artifact_set_id_relative_path UNIQUE (artifact_set_id, relative_path)
);

CREATE UNIQUE INDEX ux_dossier_artifact_placeholder_key ON dossier_artifact (artifact_set_id, artifact_key) WHERE relative_path IS NULL;

CREATE TABLE dossier_snapshot (
    snapshot_id UUID NOT NULL, 
    feature_slug TEXT NOT NULL, 
    mission_type TEXT NOT NULL, 
    manifest_version TEXT NOT NULL, 
    manifest_digest TEXT, 
    step_id TEXT, 
    root_path TEXT NOT NULL, 
    scan_fingerprint TEXT, 
    artifact_set_id UUID NOT NULL, 
    parity_hash TEXT NOT NULL, 
    total INTEGER NOT NULL, 
    required_count INTEGER NOT NULL, 
    required_present INTEGER NOT NULL, 
    required_missing INTEGER NOT NULL, 
    optional_count INTEGER NOT NULL, 
    optional_present INTEGER NOT NULL, 
    completeness TEXT NOT NULL, 
    full_scan BOOLEAN NOT NULL, 
    hashed_files INTEGER NOT NULL, 
    started_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_dossier_snapshot PRIMARY KEY (snapshot_id), 
    CONSTRAINT ck_dossier_snapshot_completeness CHECK (completeness IN ('complete', 'incomplete', 'unknown')), 
    CONSTRAINT ck_dossier_snapshot_parity_hash CHECK (parity_hash LIKE 'sha256:%' AND length(parity_hash) = 71), 
    CONSTRAINT ck_dossier_snapshot_manifest_digest CHECK ((manifest_digest IS NULL AND mission_type = '(none)') OR (length(manifest_digest) = 64 AND mission_type <> '(none)')), 
    CONSTRAINT ck_dossier_snapshot_scan_fingerprint CHECK (scan_fingerprint IS NULL OR length(scan_fingerprint) = 64), 
    CONSTRAINT ck_dossier_snapshot_computed_after_start CHECK (computed_at >= started_at), 
    CONSTRAINT ck_dossier_snapshot_total_counts CHECK (optional_present <= optional_count AND total = required_count + optional_count), 
    CONSTRAINT ck_dossier_snapshot_required_counts CHECK (required_present + required_missing = required_count), 
    CONSTRAINT ck_dossier_snapshot_counts_not_negative CHECK (required_present >= 0 AND required_missing >= 0 AND optional_present >= 0 AND hashed_files >= 0), 
    CONSTRAINT fk_dossier_snapshot_artifact_set_id_dossier_artifact_set FOREIGN KEY(artifact_set_id) REFERENCES dossier_artifact_set (artifact_set_id), 
    CONSTRAINT uq_dossier_snapshot_namespace UNIQUE (snapshot_id, feature_slug, mission_type, manifest_version)
);

CREATE INDEX ix_dossier_snapshot_feature_slug_computed_at ON dossier_snapshot (feature_slug, computed_at);

CREATE TABLE dossier_baseline (
    feature_slug TEXT NOT NULL, 
    mission_type TEXT NOT NULL, 
    manifest_version TEXT NOT NULL, 
    snapshot_id UUID NOT NULL, 
    captured_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    captured_by TEXT, 
    CONSTRAINT pk_dossier_baseline PRIMARY KEY (feature_slug, mission_type, manifest_version), 
    CONSTRAINT fk_dossier_baseline_snapshot_id_dossier_snapshot FOREIGN KEY(snapshot_id, feature_slug, mission_type, manifest_version) REFERENCES dossier_snapshot (snapshot_id, feature_slug, mission_type, manifest_version)
);

CREATE TRIGGER dossier_artifact_set_refuse_update BEFORE UPDATE ON dossier_artifact_set FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

CREATE TRIGGER dossier_artifact_refuse_update BEFORE UPDATE ON dossier_artifact FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

CREATE TRIGGER dossier_snapshot_refuse_update BEFORE UPDATE ON dossier_snapshot FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

UPDATE alembic_version SET version_num='0005_dossier' WHERE alembic_version.version_num = '0004_delivery';

-- Running upgrade 0005_dossier -> 0006_discovery

CREATE TABLE discovery_score (
    score_id BIGSERIAL NOT NULL, 
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    candidate_code TEXT NOT NULL, 
    declared BOOLEAN NOT NULL, 
    status TEXT NOT NULL, 
    support INTEGER NOT NULL, 
    dry_runs INTEGER NOT NULL, 
    completed_runs INTEGER NOT NULL, 
    verified_runs INTEGER NOT NULL, 
    fitting_runs INTEGER NOT NULL, 
    completion_ratio FLOAT, 
    evidence_completeness FLOAT, 
    fitness FLOAT, 
    last_seen_at TIMESTAMP WITH TIME ZONE, 
    proving_run_id UUID, 
    proof_source TEXT, 
    explanation TEXT NOT NULL, 
    evidence JSONB NOT NULL, 
    directly_follows JSONB NOT NULL, 
    CONSTRAINT pk_discovery_score PRIMARY KEY (score_id), 
    CONSTRAINT ck_discovery_score_status CHECK (status IN ('runtime_missing', 'wired', 'observed', 'verified_candidate')), 
    CONSTRAINT ck_discovery_score_status_from_counts CHECK (status = CASE WHEN verified_runs > 0 THEN 'verified_candidate' WHEN support > 0 THEN 'observed' WHEN dry_runs > 0 THEN 'wired' ELSE 'runtime_missing' END), 
    CONSTRAINT ck_discovery_score_proof_iff_verified CHECK ((status = 'verified_candidate') = (proving_run_id IS NOT NULL)), 
    CONSTRAINT ck_discovery_score_proof_source CHECK ((proving_run_id IS NULL) = (proof_source IS NULL) AND (proof_source IS NULL OR proof_source IN ('process_run_observation', 'job_queue'))), 
    CONSTRAINT ck_discovery_score_counts CHECK (dry_runs >= 0 AND verified_runs >= 0 AND verified_runs <= completed_runs AND completed_runs <= support AND fitting_runs >= 0 AND fitting_runs <= support), 
    CONSTRAINT ck_discovery_score_completion_ratio CHECK (completion_ratio IS NULL OR completion_ratio BETWEEN 0 AND 1), 
    CONSTRAINT ck_discovery_score_evidence_completeness CHECK (evidence_completeness IS NULL OR evidence_completeness BETWEEN 0 AND 1), 
    CONSTRAINT ck_discovery_score_fitness CHECK (fitness IS NULL OR fitness BETWEEN 0 AND 1)
);

CREATE INDEX ix_discovery_score_candidate_code_computed_at ON discovery_score (candidate_code, computed_at);

CREATE INDEX ix_discovery_score_computed_at ON discovery_score (computed_at);

CREATE TABLE process_candidate (
    candidate_code TEXT NOT NULL, 
    source TEXT, 
    title TEXT, 
    covers JSONB, 
    expected_steps JSONB, 
    declared BOOLEAN NOT NULL, 
    last_executed TIMESTAMP WITH TIME ZONE, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_process_candidate PRIMARY KEY (candidate_code), 
    CONSTRAINT ck_process_candidate_source CHECK (source IS NULL OR source IN ('dot', 'job', 'workflow')), 
    CONSTRAINT ck_process_candidate_declared_has_source CHECK (NOT declared OR source IS NOT NULL)
);

CREATE TABLE process_definition (
    definition_code TEXT NOT NULL, 
    candidate_code TEXT NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    approved_by TEXT NOT NULL, 
    CONSTRAINT pk_process_definition PRIMARY KEY (definition_code), 
    CONSTRAINT ck_process_definition_approved_by CHECK (length(trim(approved_by)) > 0), 
    CONSTRAINT uq_process_definition_candidate_code UNIQUE (candidate_code)
);

CREATE TABLE birth_registry (
    birth_id BIGSERIAL NOT NULL, 
    definition_code TEXT NOT NULL, 
    candidate_code TEXT NOT NULL, 
    proving_run_id UUID NOT NULL, 
    proof_source TEXT NOT NULL, 
    approved_by TEXT NOT NULL, 
    born_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    evidence JSONB NOT NULL, 
    CONSTRAINT pk_birth_registry PRIMARY KEY (birth_id), 
    CONSTRAINT ck_birth_registry_proof_source CHECK (proof_source IN ('process_run_observation', 'job_queue')), 
    CONSTRAINT ck_birth_registry_approved_by CHECK (length(trim(approved_by)) > 0), 
    CONSTRAINT fk_birth_registry_definition_code_process_definition FOREIGN KEY(definition_code) REFERENCES process_definition (definition_code), 
    CONSTRAINT uq_birth_registry_definition_code UNIQUE (definition_code)
);

CREATE TRIGGER birth_registry_refuse_update BEFORE UPDATE ON birth_registry FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

CREATE TRIGGER birth_registry_refuse_delete BEFORE DELETE ON birth_registry FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

UPDATE alembic_version SET version_num='0006_discovery' WHERE alembic_version.version_num = '0005_dossier';

-- Running upgrade 0006_discovery -> 0007_workflow

CREATE TABLE workflow_event (
    event_seq BIGSERIAL NOT NULL, 
    source TEXT NOT NULL, 
    run_key TEXT NOT NULL, 
    event_type TEXT NOT NULL, 
    event_time TIMESTAMP WITH TIME ZONE NOT NULL, 
    parent_run_key TEXT, 
    received_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    document JSONB NOT NULL, 
    CONSTRAINT pk_workflow_event PRIMARY KEY (event_seq), 
    CONSTRAINT ck_workflow_event_source CHECK (source IN ('openlineage', 'dagster')), 
    CONSTRAINT ck_workflow_event_event_type CHECK (event_type IN ('START', 'RUNNING', 'COMPLETE', 'ABORT', 'FAIL', 'OTHER')), 
    CONSTRAINT uq_workflow_event_source_run_key_event_type_event_time UNIQUE (source, run_key, event_type, event_time)
);

CREATE TABLE workflow_run (
    source TEXT NOT NULL, 
    run_key TEXT NOT NULL, 
    parent_run_key TEXT, 
    placement TEXT NOT NULL, 
    process_run_id UUID, 
    component_run_id UUID, 
    parent_missing BOOLEAN DEFAULT false NOT NULL, 
    facts JSONB NOT NULL, 
    first_received_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_workflow_run PRIMARY KEY (source, run_key), 
    CONSTRAINT ck_workflow_run_source CHECK (source IN ('openlineage', 'dagster')), 
    CONSTRAINT ck_workflow_run_placement CHECK (placement IN ('held', 'run', 'component')), 
    CONSTRAINT ck_workflow_run_placed_iff_in_ledger CHECK ((placement = 'held') = (process_run_id IS NULL)), 
    CONSTRAINT ck_workflow_run_component_iff_component_row CHECK ((placement = 'component') = (component_run_id IS NOT NULL)), 
    CONSTRAINT ck_workflow_run_parent_missing_is_a_run CHECK (NOT parent_missing OR (placement = 'run' AND parent_run_key IS NOT NULL))
);

CREATE INDEX ix_workflow_run_source_parent_run_key ON workflow_run (source, parent_run_key);

CREATE INDEX ix_workflow_run_placement_first_received_at ON workflow_run (placement, first_received_at);

CREATE TRIGGER workflow_event_refuse_update BEFORE UPDATE ON workflow_event FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

UPDATE alembic_version SET version_num='0007_workflow' WHERE alembic_version.version_num = '0006_discovery';

-- Running upgrade 0007_workflow -> 0008_sink_link_local

ALTER TABLE delivery_sink ADD COLUMN allow_link_local BOOLEAN DEFAULT false NOT NULL;

UPDATE alembic_version SET version_num='0008_sink_link_local' WHERE alembic_version.version_num = '0007_workflow';

-- Running upgrade 0008_sink_link_local -> 0009_relay_scale

DROP INDEX ix_delivery_state_sink_state;

DROP INDEX ix_delivery_state_sink_correlation_id_seq;

CREATE INDEX ix_delivery_state_open ON delivery_state (sink, state, lock_token) WHERE state <> 'delivered';

CREATE INDEX ix_delivery_state_undelivered_correlation ON delivery_state (sink, correlation_id, seq) WHERE state IN ('pending', 'retry', 'delivering');

ALTER TABLE delivery_state SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 10000);

UPDATE alembic_version SET version_num='0009_relay_scale' WHERE alembic_version.version_num = '0008_sink_link_local';

-- Running upgrade 0009_relay_scale -> 0010_retention_all

CREATE TABLE audit_log_archive (
    audit_id BIGSERIAL NOT NULL, 
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    actor TEXT NOT NULL, 
    action TEXT NOT NULL, 
    event_id UUID, 
    event_type TEXT, 
    correlation_id TEXT, 
    subject TEXT, 
    details JSONB, 
    archived_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_audit_log_archive PRIMARY KEY (audit_id)
);

CREATE INDEX ix_audit_log_archive_archived_at ON audit_log_archive (archived_at);

CREATE INDEX ix_audit_log_archive_recorded_at ON audit_log_archive (recorded_at);

CREATE INDEX ix_event_outbox_recorded_at_seq ON event_outbox (recorded_at, seq);

CREATE INDEX ix_audit_log_recorded_at_audit_id ON audit_log (recorded_at, audit_id);

CREATE INDEX ix_workflow_event_received_at_event_seq ON workflow_event (received_at, event_seq);

CREATE INDEX ix_discovery_score_computed_at_score_id ON discovery_score (computed_at, score_id);

CREATE INDEX ix_dossier_snapshot_feature_slug_root_path_computed_at ON dossier_snapshot (feature_slug, root_path, computed_at);

CREATE INDEX ix_dossier_snapshot_artifact_set_id ON dossier_snapshot (artifact_set_id);

CREATE INDEX ix_dossier_snapshot_feature_slug_computed_at_snapshot_id ON dossier_snapshot (feature_slug, computed_at, snapshot_id);

DROP INDEX ix_dossier_snapshot_feature_slug_computed_at;

CREATE INDEX ix_discovery_score_candidate_code_computed_at_score_id ON discovery_score (candidate_code, computed_at, score_id);

DROP INDEX ix_discovery_score_candidate_code_computed_at;

ALTER TABLE workflow_run ADD COLUMN raw_pruned_at TIMESTAMP WITH TIME ZONE;

CREATE TRIGGER audit_log_archive_refuse_update BEFORE UPDATE ON audit_log_archive FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

CREATE TRIGGER audit_log_archive_refuse_delete BEFORE DELETE ON audit_log_archive FOR EACH ROW EXECUTE FUNCTION procobs_refuse_change();

DROP TRIGGER IF EXISTS audit_log_refuse_delete ON audit_log;

CREATE OR REPLACE FUNCTION procobs_leaves_only_archived_audit_log() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_log_archive a WHERE a.audit_id = OLD.audit_id AND a.recorded_at IS NOT DISTINCT FROM OLD.recorded_at AND a.actor IS NOT DISTINCT FROM OLD.actor AND a.action IS NOT DISTINCT FROM OLD.action AND a.event_id IS NOT DISTINCT FROM OLD.event_id AND a.event_type IS NOT DISTINCT FROM OLD.event_type AND a.correlation_id IS NOT DISTINCT FROM OLD.correlation_id AND a.subject IS NOT DISTINCT FROM OLD.subject AND a.details IS NOT DISTINCT FROM OLD.details) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: DELETE refused (a row leaves only into audit_log_archive)' USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER audit_log_refuse_delete BEFORE DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION procobs_leaves_only_archived_audit_log();

UPDATE alembic_version SET version_num='0010_retention_all' WHERE alembic_version.version_num = '0009_relay_scale';

-- Running upgrade 0010_retention_all -> 0011_trace_summary

CREATE TABLE discovery_trace_summary (
    trace_id UUID NOT NULL, 
    origin TEXT NOT NULL, 
    candidate_code TEXT NOT NULL, 
    correlation_id TEXT, 
    header_status TEXT, 
    dry_run SMALLINT NOT NULL, 
    completed SMALLINT NOT NULL, 
    timed SMALLINT NOT NULL, 
    n_steps INTEGER NOT NULL, 
    n_evidence INTEGER, 
    variant TEXT, 
    seen_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_discovery_trace_summary PRIMARY KEY (trace_id, origin, candidate_code), 
    CONSTRAINT ck_discovery_trace_summary_origin CHECK (origin IN ('process_run_observation', 'job_queue')), 
    CONSTRAINT ck_discovery_trace_summary_flags CHECK (dry_run IN (0, 1) AND completed IN (0, 1) AND timed IN (0, 1)), 
    CONSTRAINT ck_discovery_trace_summary_counts CHECK (n_steps >= 0 AND (n_evidence IS NULL OR n_evidence BETWEEN 0 AND n_steps))
);

CREATE INDEX ix_discovery_trace_summary_correlation_id ON discovery_trace_summary (correlation_id);

CREATE INDEX ix_discovery_trace_summary_candidate_code ON discovery_trace_summary (candidate_code);

CREATE TABLE discovery_trace_class (
    class_key TEXT NOT NULL, 
    candidate_code TEXT NOT NULL, 
    origin TEXT NOT NULL, 
    variant TEXT, 
    dry_run SMALLINT NOT NULL, 
    completed SMALLINT NOT NULL, 
    timed SMALLINT NOT NULL, 
    enough_steps SMALLINT NOT NULL, 
    traces BIGINT NOT NULL, 
    components BIGINT NOT NULL, 
    components_with_evidence BIGINT NOT NULL, 
    last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    representative TEXT NOT NULL, 
    CONSTRAINT pk_discovery_trace_class PRIMARY KEY (class_key), 
    CONSTRAINT ck_discovery_trace_class_origin CHECK (origin IN ('process_run_observation', 'job_queue')), 
    CONSTRAINT ck_discovery_trace_class_counts CHECK (traces > 0 AND components >= 0 AND components_with_evidence BETWEEN 0 AND components)
);

CREATE INDEX ix_discovery_trace_class_candidate_code ON discovery_trace_class (candidate_code);

CREATE TABLE discovery_trace_change (
    change_id BIGSERIAL NOT NULL, 
    correlation_id TEXT, 
    run_id UUID, 
    CONSTRAINT pk_discovery_trace_change PRIMARY KEY (change_id), 
    CONSTRAINT ck_discovery_trace_change_has_key CHECK (correlation_id IS NOT NULL OR run_id IS NOT NULL)
);

CREATE TABLE discovery_summary_state (
    state_id INTEGER NOT NULL, 
    job_coverage TEXT, 
    built_at TIMESTAMP WITH TIME ZONE, 
    refreshed_at TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_discovery_summary_state PRIMARY KEY (state_id), 
    CONSTRAINT ck_discovery_summary_state_singleton CHECK (state_id = 1)
);

INSERT INTO discovery_summary_state (state_id) VALUES (1);

CREATE INDEX ix_process_run_observation_archive_correlation_id ON process_run_observation_archive (correlation_id);

CREATE INDEX ix_process_component_observation_archive_correlation_id ON process_component_observation_archive (correlation_id);

CREATE OR REPLACE FUNCTION process_run_observation_trace_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO discovery_trace_change (correlation_id, run_id)
        SELECT n.correlation_id, n.process_run_id FROM new_rows n WHERE (n.correlation_id IS NOT NULL OR n.process_run_id IS NOT NULL)
        UNION
        SELECT o.correlation_id, o.process_run_id FROM old_rows o WHERE (o.correlation_id IS NOT NULL OR o.process_run_id IS NOT NULL);
    ELSE
        INSERT INTO discovery_trace_change (correlation_id, run_id)
        SELECT DISTINCT n.correlation_id, n.process_run_id FROM new_rows n WHERE (n.correlation_id IS NOT NULL OR n.process_run_id IS NOT NULL);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER process_run_observation_trace_change_insert AFTER INSERT ON process_run_observation REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION process_run_observation_trace_change();

CREATE TRIGGER process_run_observation_trace_change_update AFTER UPDATE ON process_run_observation REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION process_run_observation_trace_change();

CREATE OR REPLACE FUNCTION process_component_observation_trace_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO discovery_trace_change (correlation_id, run_id)
        SELECT n.correlation_id, NULL::uuid FROM new_rows n WHERE (n.correlation_id IS NOT NULL)
        UNION
        SELECT o.correlation_id, NULL::uuid FROM old_rows o WHERE (o.correlation_id IS NOT NULL);
    ELSE
        INSERT INTO discovery_trace_change (correlation_id, run_id)
        SELECT DISTINCT n.correlation_id, NULL::uuid FROM new_rows n WHERE (n.correlation_id IS NOT NULL);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER process_component_observation_trace_change_insert AFTER INSERT ON process_component_observation REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION process_component_observation_trace_change();

CREATE TRIGGER process_component_observation_trace_change_update AFTER UPDATE ON process_component_observation REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION process_component_observation_trace_change();

CREATE OR REPLACE FUNCTION job_queue_trace_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO discovery_trace_change (correlation_id, run_id)
        SELECT NULL::text, n.run_id FROM new_rows n WHERE (n.run_id IS NOT NULL)
        UNION
        SELECT NULL::text, o.run_id FROM old_rows o WHERE (o.run_id IS NOT NULL);
    ELSE
        INSERT INTO discovery_trace_change (correlation_id, run_id)
        SELECT DISTINCT NULL::text, n.run_id FROM new_rows n WHERE (n.run_id IS NOT NULL);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER job_queue_trace_change_insert AFTER INSERT ON job_queue REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_queue_trace_change();

CREATE TRIGGER job_queue_trace_change_update AFTER UPDATE ON job_queue REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_queue_trace_change();

UPDATE alembic_version SET version_num='0011_trace_summary' WHERE alembic_version.version_num = '0010_retention_all';

-- Running upgrade 0011_trace_summary -> 0012_ledger_functions

CREATE FUNCTION procobs_insert_run(p_process_run_id uuid, p_process_candidate_code text, p_process_definition_code text, p_correlation_id text, p_parent_run_id uuid, p_status text, p_source_system text, p_idempotency_key text, p_input_ref text, p_output_ref text, p_error_ref text, p_evidence_ref jsonb, p_started_at timestamptz, p_ended_at timestamptz, p_created_at timestamptz, p_reason text, p_actor text)
RETURNS SETOF process_run_observation LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    written process_run_observation;
BEGIN
    -- Idempotent: a row whose key or idempotency key exists already is left alone and
    -- nothing is returned (a concurrent second writer waits for the first, then skips).
    INSERT INTO process_run_observation (process_run_id, process_candidate_code, process_definition_code, correlation_id, parent_run_id, status, source_system, idempotency_key, input_ref, output_ref, error_ref, evidence_ref, started_at, ended_at, created_at) VALUES (p_process_run_id, p_process_candidate_code, p_process_definition_code, p_correlation_id, p_parent_run_id, p_status, p_source_system, p_idempotency_key, p_input_ref, p_output_ref, p_error_ref, p_evidence_ref, p_started_at, p_ended_at, p_created_at)
    ON CONFLICT DO NOTHING
    RETURNING * INTO written;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO process_status_history
        (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor)
    VALUES ('run', written.process_run_id, written.process_run_id, NULL, written.status,
            written.created_at, p_reason, p_actor);
    RETURN NEXT written;
END
$$;

CREATE FUNCTION procobs_move_run(p_id uuid, p_to text, p_allowed text[], p_expect text, p_ended_at timestamptz, p_started_at timestamptz, p_error_ref text, p_output_ref text, p_evidence jsonb, p_at timestamptz, p_reason text, p_actor text)
RETURNS SETOF process_run_observation LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    prior text;
    moved process_run_observation;
BEGIN
    -- Compare-and-set without a separate lock: read the status, then update only if the
    -- row still has it. A concurrent move makes the UPDATE wait for it and then match
    -- nothing, and the status is read again (each statement sees what has committed).
    -- The UPDATE's own row lock holds the moved row until commit.
    LOOP
        SELECT status INTO prior FROM process_run_observation WHERE process_run_id = p_id;
        -- No row, a status the move is not legal from, or not the status the caller
        -- expected: nothing is written or returned.
        IF NOT FOUND OR NOT prior = ANY (p_allowed)
           OR prior IS DISTINCT FROM coalesce(p_expect, prior) THEN
            RETURN;
        END IF;
        UPDATE process_run_observation SET
            status = p_to,
            ended_at = p_ended_at,
            started_at = coalesce(started_at, p_started_at),
            error_ref = coalesce(p_error_ref, error_ref),
            output_ref = coalesce(p_output_ref, output_ref),
            evidence_ref = coalesce(coalesce(evidence_ref, '{}'::jsonb) || p_evidence, evidence_ref)
        WHERE process_run_id = p_id AND status = prior
        RETURNING * INTO moved;
        EXIT WHEN FOUND;
    END LOOP;
    INSERT INTO process_status_history
        (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor)
    VALUES ('run', p_id, moved.process_run_id, prior, p_to, p_at, p_reason, p_actor);
    RETURN NEXT moved;
END
$$;

CREATE FUNCTION procobs_insert_component(p_component_run_id uuid, p_process_run_id uuid, p_parent_run_id uuid, p_correlation_id text, p_dot_code text, p_component_role text, p_event_code text, p_queue_job_id uuid, p_standalone boolean, p_status text, p_source_system text, p_idempotency_key text, p_input_ref text, p_output_ref text, p_error_ref text, p_evidence_ref jsonb, p_started_at timestamptz, p_ended_at timestamptz, p_created_at timestamptz, p_reason text, p_actor text)
RETURNS SETOF process_component_observation LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    written process_component_observation;
BEGIN
    -- Idempotent: a row whose key or idempotency key exists already is left alone and
    -- nothing is returned (a concurrent second writer waits for the first, then skips).
    INSERT INTO process_component_observation (component_run_id, process_run_id, parent_run_id, correlation_id, dot_code, component_role, event_code, queue_job_id, standalone, status, source_system, idempotency_key, input_ref, output_ref, error_ref, evidence_ref, started_at, ended_at, created_at) VALUES (p_component_run_id, p_process_run_id, p_parent_run_id, p_correlation_id, p_dot_code, p_component_role, p_event_code, p_queue_job_id, p_standalone, p_status, p_source_system, p_idempotency_key, p_input_ref, p_output_ref, p_error_ref, p_evidence_ref, p_started_at, p_ended_at, p_created_at)
    ON CONFLICT DO NOTHING
    RETURNING * INTO written;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO process_status_history
        (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor)
    VALUES ('component', written.component_run_id, written.process_run_id, NULL, written.status,
            written.created_at, p_reason, p_actor);
    RETURN NEXT written;
END
$$;

CREATE FUNCTION procobs_move_component(p_id uuid, p_to text, p_allowed text[], p_expect text, p_ended_at timestamptz, p_started_at timestamptz, p_error_ref text, p_output_ref text, p_evidence jsonb, p_at timestamptz, p_reason text, p_actor text)
RETURNS SETOF process_component_observation LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    prior text;
    moved process_component_observation;
BEGIN
    -- Compare-and-set without a separate lock: read the status, then update only if the
    -- row still has it. A concurrent move makes the UPDATE wait for it and then match
    -- nothing, and the status is read again (each statement sees what has committed).
    -- The UPDATE's own row lock holds the moved row until commit.
    LOOP
        SELECT status INTO prior FROM process_component_observation WHERE component_run_id = p_id;
        -- No row, a status the move is not legal from, or not the status the caller
        -- expected: nothing is written or returned.
        IF NOT FOUND OR NOT prior = ANY (p_allowed)
           OR prior IS DISTINCT FROM coalesce(p_expect, prior) THEN
            RETURN;
        END IF;
        UPDATE process_component_observation SET
            status = p_to,
            ended_at = p_ended_at,
            started_at = coalesce(started_at, p_started_at),
            error_ref = coalesce(p_error_ref, error_ref),
            output_ref = coalesce(p_output_ref, output_ref),
            evidence_ref = coalesce(coalesce(evidence_ref, '{}'::jsonb) || p_evidence, evidence_ref)
        WHERE component_run_id = p_id AND status = prior
        RETURNING * INTO moved;
        EXIT WHEN FOUND;
    END LOOP;
    INSERT INTO process_status_history
        (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor)
    VALUES ('component', p_id, moved.process_run_id, prior, p_to, p_at, p_reason, p_actor);
    RETURN NEXT moved;
END
$$;

UPDATE alembic_version SET version_num='0012_ledger_functions' WHERE alembic_version.version_num = '0011_trace_summary';

-- Running upgrade 0012_ledger_functions -> 0013_sqlite_autoincrement

UPDATE alembic_version SET version_num='0013_sqlite_autoincrement' WHERE alembic_version.version_num = '0012_ledger_functions';

-- Running upgrade 0013_sqlite_autoincrement -> 0014_ledger_compound_moves

CREATE FUNCTION procobs_insert_run_then(p_process_run_id uuid, p_process_candidate_code text, p_process_definition_code text, p_correlation_id text, p_parent_run_id uuid, p_status text, p_source_system text, p_idempotency_key text, p_input_ref text, p_output_ref text, p_error_ref text, p_evidence_ref jsonb, p_started_at timestamptz, p_ended_at timestamptz, p_created_at timestamptz, p_reason text, p_actor text, t_to text, t_allowed text[], t_ended_at timestamptz, t_started_at timestamptz, t_at timestamptz, t_reason text)
RETURNS SETOF process_run_observation LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    written process_run_observation;
BEGIN
    IF NOT p_status = ANY (t_allowed) THEN
        RAISE EXCEPTION 'procobs_insert_run_then: % → % is not a lifecycle step', p_status, t_to;
    END IF;
    -- procobs_insert_run and a move of the row it inserted: the row is new, so no one
    -- can see or move it before this transaction commits, and writing it once in the
    -- status it moves to is the same as writing it twice. Idempotent as the insert is.
    INSERT INTO process_run_observation (process_run_id, process_candidate_code, process_definition_code, correlation_id, parent_run_id, status, source_system, idempotency_key, input_ref, output_ref, error_ref, evidence_ref, started_at, ended_at, created_at) VALUES (p_process_run_id, p_process_candidate_code, p_process_definition_code, p_correlation_id, p_parent_run_id, t_to, p_source_system, p_idempotency_key, p_input_ref, p_output_ref, p_error_ref, p_evidence_ref, coalesce(p_started_at, t_started_at), t_ended_at, p_created_at)
    ON CONFLICT DO NOTHING
    RETURNING * INTO written;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO process_status_history (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor) VALUES
        ('run', written.process_run_id, written.process_run_id, NULL, p_status, written.created_at,
         p_reason, p_actor),
        ('run', written.process_run_id, written.process_run_id, p_status, t_to, t_at, t_reason,
         p_actor);
    RETURN NEXT written;
END
$$;

CREATE FUNCTION procobs_move_run_through(p_id uuid, p_to text, p_allowed text[], p_expect text, p_ended_at timestamptz, p_started_at timestamptz, p_error_ref text, p_output_ref text, p_evidence jsonb, p_at timestamptz, p_reason text, p_actor text, t_to text, t_allowed text[], t_ended_at timestamptz, t_started_at timestamptz, t_at timestamptz, t_reason text)
RETURNS SETOF process_run_observation LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    prior text;
    moved process_run_observation;
BEGIN
    IF NOT p_to = ANY (t_allowed) THEN
        RAISE EXCEPTION 'procobs_move_run_through: % → % is not a lifecycle step', p_to, t_to;
    END IF;
    -- procobs_move_run to p_to, then on to t_to: the same compare-and-set on the
    -- status read, one UPDATE writing the row as the second move leaves it.
    LOOP
        SELECT status INTO prior FROM process_run_observation WHERE process_run_id = p_id;
        IF NOT FOUND OR NOT prior = ANY (p_allowed)
           OR prior IS DISTINCT FROM coalesce(p_expect, prior) THEN
            RETURN;
        END IF;
        UPDATE process_run_observation SET
            status = t_to,
            ended_at = t_ended_at,
            started_at = coalesce(started_at, p_started_at, t_started_at),
            error_ref = coalesce(p_error_ref, error_ref),
            output_ref = coalesce(p_output_ref, output_ref),
            evidence_ref = coalesce(coalesce(evidence_ref, '{}'::jsonb) || p_evidence, evidence_ref)
        WHERE process_run_id = p_id AND status = prior
        RETURNING * INTO moved;
        EXIT WHEN FOUND;
    END LOOP;
    INSERT INTO process_status_history (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor) VALUES
        ('run', p_id, moved.process_run_id, prior, p_to, p_at, p_reason, p_actor),
        ('run', p_id, moved.process_run_id, p_to, t_to, t_at, t_reason, p_actor);
    RETURN NEXT moved;
END
$$;

CREATE FUNCTION procobs_insert_component_then(p_component_run_id uuid, p_process_run_id uuid, p_parent_run_id uuid, p_correlation_id text, p_dot_code text, p_component_role text, p_event_code text, p_queue_job_id uuid, p_standalone boolean, p_status text, p_source_system text, p_idempotency_key text, p_input_ref text, p_output_ref text, p_error_ref text, p_evidence_ref jsonb, p_started_at timestamptz, p_ended_at timestamptz, p_created_at timestamptz, p_reason text, p_actor text, t_to text, t_allowed text[], t_ended_at timestamptz, t_started_at timestamptz, t_at timestamptz, t_reason text)
RETURNS SETOF process_component_observation LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    written process_component_observation;
BEGIN
    IF NOT p_status = ANY (t_allowed) THEN
        RAISE EXCEPTION 'procobs_insert_component_then: % → % is not a lifecycle step', p_status, t_to;
    END IF;
    -- procobs_insert_component and a move of the row it inserted: the row is new, so no one
    -- can see or move it before this transaction commits, and writing it once in the
    -- status it moves to is the same as writing it twice. Idempotent as the insert is.
    INSERT INTO process_component_observation (component_run_id, process_run_id, parent_run_id, correlation_id, dot_code, component_role, event_code, queue_job_id, standalone, status, source_system, idempotency_key, input_ref, output_ref, error_ref, evidence_ref, started_at, ended_at, created_at) VALUES (p_component_run_id, p_process_run_id, p_parent_run_id, p_correlation_id, p_dot_code, p_component_role, p_event_code, p_queue_job_id, p_standalone, t_to, p_source_system, p_idempotency_key, p_input_ref, p_output_ref, p_error_ref, p_evidence_ref, coalesce(p_started_at, t_started_at), t_ended_at, p_created_at)
    ON CONFLICT DO NOTHING
    RETURNING * INTO written;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO process_status_history (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor) VALUES
        ('component', written.component_run_id, written.process_run_id, NULL, p_status, written.created_at,
         p_reason, p_actor),
        ('component', written.component_run_id, written.process_run_id, p_status, t_to, t_at, t_reason,
         p_actor);
    RETURN NEXT written;
END
$$;

CREATE FUNCTION procobs_move_component_through(p_id uuid, p_to text, p_allowed text[], p_expect text, p_ended_at timestamptz, p_started_at timestamptz, p_error_ref text, p_output_ref text, p_evidence jsonb, p_at timestamptz, p_reason text, p_actor text, t_to text, t_allowed text[], t_ended_at timestamptz, t_started_at timestamptz, t_at timestamptz, t_reason text)
RETURNS SETOF process_component_observation LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    prior text;
    moved process_component_observation;
BEGIN
    IF NOT p_to = ANY (t_allowed) THEN
        RAISE EXCEPTION 'procobs_move_component_through: % → % is not a lifecycle step', p_to, t_to;
    END IF;
    -- procobs_move_component to p_to, then on to t_to: the same compare-and-set on the
    -- status read, one UPDATE writing the row as the second move leaves it.
    LOOP
        SELECT status INTO prior FROM process_component_observation WHERE component_run_id = p_id;
        IF NOT FOUND OR NOT prior = ANY (p_allowed)
           OR prior IS DISTINCT FROM coalesce(p_expect, prior) THEN
            RETURN;
        END IF;
        UPDATE process_component_observation SET
            status = t_to,
            ended_at = t_ended_at,
            started_at = coalesce(started_at, p_started_at, t_started_at),
            error_ref = coalesce(p_error_ref, error_ref),
            output_ref = coalesce(p_output_ref, output_ref),
            evidence_ref = coalesce(coalesce(evidence_ref, '{}'::jsonb) || p_evidence, evidence_ref)
        WHERE component_run_id = p_id AND status = prior
        RETURNING * INTO moved;
        EXIT WHEN FOUND;
    END LOOP;
    INSERT INTO process_status_history (subject_kind, subject_id, process_run_id, from_status, to_status, changed_at, reason, actor) VALUES
        ('component', p_id, moved.process_run_id, prior, p_to, p_at, p_reason, p_actor),
        ('component', p_id, moved.process_run_id, p_to, t_to, t_at, t_reason, p_actor);
    RETURN NEXT moved;
END
$$;

UPDATE alembic_version SET version_num='0014_ledger_compound_moves' WHERE alembic_version.version_num = '0013_sqlite_autoincrement';

-- Running upgrade 0014_ledger_compound_moves -> 0015_job_delete_changes

CREATE OR REPLACE FUNCTION job_queue_trace_change_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO discovery_trace_change (correlation_id, run_id)
    SELECT DISTINCT NULL::text, o.run_id FROM old_rows o WHERE (o.run_id IS NOT NULL);
    RETURN NULL;
END
$$;

CREATE TRIGGER job_queue_trace_change_delete AFTER DELETE ON job_queue REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION job_queue_trace_change_delete();

CREATE OR REPLACE FUNCTION job_queue_trace_change_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE discovery_summary_state SET job_coverage = NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER job_queue_trace_change_truncate AFTER TRUNCATE ON job_queue FOR EACH STATEMENT EXECUTE FUNCTION job_queue_trace_change_truncate();

UPDATE alembic_version SET version_num='0015_job_delete_changes' WHERE alembic_version.version_num = '0014_ledger_compound_moves';

-- Running upgrade 0015_job_delete_changes -> 0016_dead_delivery_index

CREATE INDEX ix_delivery_state_dead ON delivery_state (event_id, sink) WHERE state = 'dead';

UPDATE alembic_version SET version_num='0016_dead_delivery_index' WHERE alembic_version.version_num = '0015_job_delete_changes';

-- Running upgrade 0016_dead_delivery_index -> 0017_archive_run_key_index

DROP INDEX ix_process_run_observation_archive_process_run_id;

UPDATE alembic_version SET version_num='0017_archive_run_key_index' WHERE alembic_version.version_num = '0016_dead_delivery_index';

COMMIT;

