//! Diesel table definitions, kept in step with `migrations/` by hand.

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    users (id) {
        id -> Integer,
        username -> Text,
        display_name -> Text,
        email -> Text,
        password_hash -> Text,
        manager_id -> Nullable<Integer>,
        language -> Nullable<Text>,
        active -> Bool,
        created_at -> Stamp,
        updated_at -> Stamp,
        deactivated_at -> Nullable<Stamp>,
        session_epoch -> Integer,
        last_language -> Nullable<Text>,
        service_account -> Bool,
        origin -> Text,
        external_id -> Nullable<Text>,
        external_dn -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    businesses (id) {
        id -> Integer,
        name -> Text,
        description -> Text,
        created_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    roles (id) {
        id -> Integer,
        code -> Text,
        name_en -> Text,
        name_zh -> Text,
        description -> Text,
        builtin -> Bool,
        created_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    role_assignments (id) {
        id -> Integer,
        user_id -> Integer,
        role_id -> Integer,
        business_id -> Nullable<Integer>,
        created_by -> Nullable<Integer>,
        created_at -> Stamp,
        from_group -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    group_roles (id) {
        id -> Integer,
        group_name -> Text,
        role_id -> Integer,
        business_id -> Nullable<Integer>,
        created_by -> Nullable<Integer>,
        created_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    directory_syncs (id) {
        id -> Integer,
        slot -> Nullable<Text>,
        running -> Nullable<Integer>,
        trigger -> Text,
        started_by -> Nullable<Integer>,
        started_at -> Stamp,
        finished_at -> Nullable<Stamp>,
        created -> Integer,
        updated -> Integer,
        deactivated -> Integer,
        unchanged -> Integer,
        report -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    delegations (id) {
        id -> Integer,
        from_user_id -> Integer,
        to_user_id -> Integer,
        starts_at -> Stamp,
        ends_at -> Stamp,
        process_kind -> Nullable<Text>,
        note -> Text,
        created_by -> Nullable<Integer>,
        created_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    audit_events (id) {
        id -> Integer,
        at -> Stamp,
        actor_id -> Nullable<Integer>,
        on_behalf_of_id -> Nullable<Integer>,
        channel -> Text,
        action -> Text,
        subject_type -> Text,
        subject_id -> Nullable<Integer>,
        apply_id -> Nullable<Integer>,
        detail -> Text,
        chain -> Nullable<Integer>,
        seq -> Nullable<Integer>,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    audit_heads (chain) {
        chain -> Integer,
        seq -> Integer,
        hash -> Nullable<Text>,
        legacy_until -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    sign_in_throttle (key) {
        key -> Text,
        window_start -> Stamp,
        attempts -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    processes (id) {
        id -> Integer,
        name -> Text,
        kind -> Text,
        draft -> Text,
        enabled -> Bool,
        revision -> Integer,
        created_by -> Nullable<Integer>,
        created_at -> Stamp,
        updated_at -> Stamp,
        name_zh -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    process_versions (id) {
        id -> Integer,
        process_id -> Integer,
        number -> Integer,
        definition -> Text,
        message -> Text,
        deployed_by -> Nullable<Integer>,
        deployed_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    services (id) {
        id -> Integer,
        name_en -> Text,
        name_zh -> Text,
        kind -> Text,
        description -> Text,
        process_id -> Integer,
        version_id -> Integer,
        visible_roles -> Text,
        created_at -> Stamp,
        updated_at -> Stamp,
        retired_at -> Nullable<Stamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    catalog_nodes (id) {
        id -> Integer,
        parent_id -> Nullable<Integer>,
        name_en -> Text,
        name_zh -> Text,
        position -> Integer,
        created_at -> Stamp,
    }
}

diesel::table! {
    catalog_services (id) {
        id -> Integer,
        node_id -> Integer,
        service_id -> Integer,
        position -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    resources (id) {
        id -> Integer,
        name -> Text,
        kind -> Text,
        owner_id -> Nullable<Integer>,
        managed -> Bool,
        description -> Text,
        created_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    applies (id) {
        id -> Integer,
        serial -> Text,
        service_id -> Integer,
        version_id -> Integer,
        kind -> Text,
        title -> Text,
        applicant_id -> Integer,
        business_id -> Nullable<Integer>,
        status -> Text,
        form -> Text,
        outcome -> Nullable<Text>,
        submit_token -> Text,
        row_version -> Integer,
        last_urged_at -> Nullable<Stamp>,
        created_at -> Stamp,
        updated_at -> Stamp,
        finished_at -> Nullable<Stamp>,
        due_at -> Nullable<Stamp>,
        overdue_at -> Nullable<Stamp>,
        extra_nodes -> Nullable<Text>,
        copied -> Bool,
        attached -> Bool,
        audit_seq -> Integer,
        audit_hash -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    approves (id) {
        id -> Integer,
        apply_id -> Integer,
        position -> Integer,
        node_key -> Text,
        name_en -> Text,
        name_zh -> Text,
        kind -> Text,
        mode -> Text,
        status -> Text,
        notes -> Text,
        row_version -> Integer,
        started_at -> Nullable<Stamp>,
        decided_at -> Nullable<Stamp>,
        due_at -> Nullable<Stamp>,
        overdue_at -> Nullable<Stamp>,
        sent_back_from -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    approve_users (id) {
        id -> Integer,
        approve_id -> Integer,
        apply_id -> Integer,
        position -> Integer,
        user_id -> Integer,
        status -> Text,
        decision -> Nullable<Text>,
        acted_by -> Nullable<Integer>,
        channel -> Nullable<Text>,
        comment -> Text,
        decided_at -> Nullable<Stamp>,
        email_token_hash -> Nullable<Text>,
        email_token_expires_at -> Nullable<Stamp>,
        created_at -> Stamp,
        email_token_to -> Nullable<Integer>,
        send_back_to -> Nullable<Text>,
        added_for -> Nullable<Integer>,
        placement -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    grants (id) {
        id -> Integer,
        user_id -> Integer,
        resource_id -> Integer,
        apply_id -> Integer,
        granted_at -> Stamp,
        revoked_at -> Nullable<Stamp>,
        revoked_by -> Nullable<Integer>,
        revoke_reason -> Text,
    }
}

diesel::table! {
    serial_counters (prefix) {
        prefix -> Text,
        last -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    outbox (id) {
        id -> Integer,
        to_user_id -> Nullable<Integer>,
        to_email -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        kind -> Text,
        apply_id -> Nullable<Integer>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Stamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Stamp>,
        last_error -> Text,
        created_at -> Stamp,
        sent_at -> Nullable<Stamp>,
        retry_since -> Nullable<Stamp>,
        node_id -> Nullable<Integer>,
        for_user_id -> Nullable<Integer>,
        comment -> Text,
        link_token -> Nullable<Text>,
        composed -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    retired_links (token_hash) {
        token_hash -> Text,
        approve_user_id -> Integer,
        sent_to -> Nullable<Integer>,
        reason -> Text,
        retired_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    webhooks (id) {
        id -> Integer,
        name -> Text,
        url -> Text,
        secret -> Text,
        kind -> Text,
        language -> Text,
        events -> Text,
        services -> Text,
        businesses -> Text,
        active -> Bool,
        created_at -> Stamp,
        created_by -> Nullable<Integer>,
        batch -> Bool,
        read_tx -> BigInt,
        read_through -> Integer,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Stamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    webhook_events (id) {
        id -> Integer,
        tx -> BigInt,
        event_id -> Text,
        event_type -> Text,
        apply_id -> Nullable<Integer>,
        service_id -> Nullable<Integer>,
        business_id -> Nullable<Integer>,
        payload -> Text,
        created_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    webhook_deliveries (id) {
        id -> Integer,
        webhook_id -> Integer,
        event_id -> Text,
        event_type -> Text,
        apply_id -> Nullable<Integer>,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Stamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Stamp>,
        response_code -> Nullable<Integer>,
        latency_ms -> Nullable<Integer>,
        error -> Text,
        created_at -> Stamp,
        delivered_at -> Nullable<Stamp>,
        event_row -> Nullable<Integer>,
        event_rows -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    idempotency_keys (id) {
        id -> Integer,
        user_id -> Integer,
        key -> Text,
        request_hash -> Text,
        status -> Integer,
        body -> Text,
        created_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    api_tokens (id) {
        id -> Integer,
        user_id -> Integer,
        name -> Text,
        scope -> Text,
        secret_hash -> Text,
        shown -> Text,
        created_at -> Stamp,
        expires_at -> Stamp,
        last_used_at -> Nullable<Stamp>,
        revoked_at -> Nullable<Stamp>,
        revoked_by -> Nullable<Integer>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    calendars (id) {
        id -> Integer,
        code -> Text,
        name_en -> Text,
        name_zh -> Text,
        tz -> Text,
        week -> Text,
        holidays -> Text,
        extra -> Text,
        is_default -> Bool,
        updated_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    timers (id) {
        id -> Integer,
        apply_id -> Integer,
        approve_id -> Nullable<Integer>,
        stage -> Integer,
        due_at -> Stamp,
        since -> Stamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Stamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    changes (apply_id) {
        apply_id -> Integer,
        starts_at -> Stamp,
        ends_at -> Stamp,
        long_window -> Bool,
        emergency -> Bool,
        service_id -> Integer,
        business_id -> Nullable<Integer>,
        items -> Text,
        first_day -> Integer,
        last_day -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    change_items (apply_id, item) {
        apply_id -> Integer,
        item -> Text,
        starts_at -> Stamp,
        ends_at -> Stamp,
        long_window -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    freezes (id) {
        id -> Integer,
        name_en -> Text,
        name_zh -> Text,
        reason_en -> Text,
        reason_zh -> Text,
        starts_local -> Stamp,
        ends_local -> Stamp,
        repeat -> Text,
        tz -> Text,
        strength -> Text,
        role_code -> Nullable<Text>,
        scope -> Text,
        created_by -> Nullable<Integer>,
        updated_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    silences (apply_id) {
        apply_id -> Integer,
        silence_id -> Nullable<Text>,
        starts_at -> Nullable<Stamp>,
        ends_at -> Nullable<Stamp>,
        matchers -> Text,
        synced_version -> Integer,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Stamp>,
        last_error -> Nullable<Text>,
        updated_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    calendar_feeds (id) {
        id -> Integer,
        token_hash -> Text,
        user_id -> Nullable<Integer>,
        business_id -> Nullable<Integer>,
        created_by -> Nullable<Integer>,
        created_at -> Stamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    copies (id) {
        id -> Integer,
        apply_id -> Integer,
        user_id -> Integer,
        added_by -> Nullable<Integer>,
        node_key -> Nullable<Text>,
        note -> Text,
        told_at -> Stamp,
        read_at -> Nullable<Stamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    attachments (id) {
        id -> Integer,
        sha256 -> Text,
        size -> BigInt,
        content_type -> Text,
        name -> Text,
        uploaded_by -> Integer,
        uploaded_at -> Stamp,
        apply_id -> Nullable<Integer>,
        field_key -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::stamp::Stamp;

    insight_days (day) {
        day -> Integer,
        rolled_at -> Stamp,
    }
}

diesel::table! {
    insight_figures (day, business_id, service_id, figure, subject) {
        day -> Integer,
        business_id -> Integer,
        service_id -> Integer,
        figure -> Text,
        subject -> Text,
        label_en -> Text,
        label_zh -> Text,
        n -> BigInt,
        hist -> Text,
    }
}

diesel::joinable!(group_roles -> roles (role_id));
diesel::joinable!(approves -> applies (apply_id));
diesel::joinable!(copies -> applies (apply_id));
diesel::joinable!(changes -> applies (apply_id));
diesel::joinable!(timers -> approves (approve_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(approve_users -> approves (approve_id));
diesel::joinable!(approve_users -> applies (apply_id));
diesel::joinable!(applies -> services (service_id));
diesel::joinable!(grants -> resources (resource_id));
diesel::joinable!(process_versions -> processes (process_id));
diesel::joinable!(services -> process_versions (version_id));
diesel::joinable!(catalog_services -> services (service_id));
diesel::joinable!(catalog_services -> catalog_nodes (node_id));
diesel::joinable!(role_assignments -> roles (role_id));
diesel::joinable!(role_assignments -> businesses (business_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    group_roles,
    directory_syncs,
    settings,
    businesses,
    roles,
    role_assignments,
    delegations,
    audit_events,
    audit_heads,
    sign_in_throttle,
    processes,
    process_versions,
    services,
    catalog_nodes,
    catalog_services,
    resources,
    applies,
    approves,
    approve_users,
    grants,
    serial_counters,
    outbox,
    retired_links,
    api_tokens,
    idempotency_keys,
    webhooks,
    webhook_deliveries,
    webhook_events,
    calendars,
    changes,
    change_items,
    freezes,
    calendar_feeds,
    silences,
    timers,
    copies,
    attachments,
    insight_days,
    insight_figures,
);
