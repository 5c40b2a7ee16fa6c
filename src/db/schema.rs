//! Diesel table definitions, kept in step with `migrations/` by hand.

diesel::table! {
    users (id) {
        id -> Integer,
        username -> Text,
        display_name -> Text,
        email -> Text,
        password_hash -> Text,
        manager_id -> Nullable<Integer>,
        language -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deactivated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    businesses (id) {
        id -> Integer,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    roles (id) {
        id -> Integer,
        code -> Text,
        name_en -> Text,
        name_zh -> Text,
        description -> Text,
        builtin -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    role_assignments (id) {
        id -> Integer,
        user_id -> Integer,
        role_id -> Integer,
        business_id -> Nullable<Integer>,
        created_by -> Nullable<Integer>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    delegations (id) {
        id -> Integer,
        from_user_id -> Integer,
        to_user_id -> Integer,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        process_kind -> Nullable<Text>,
        note -> Text,
        created_by -> Nullable<Integer>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Integer,
        at -> Timestamp,
        actor_id -> Nullable<Integer>,
        on_behalf_of_id -> Nullable<Integer>,
        channel -> Text,
        action -> Text,
        subject_type -> Text,
        subject_id -> Nullable<Integer>,
        apply_id -> Nullable<Integer>,
        detail -> Text,
    }
}

diesel::table! {
    sign_in_failures (id) {
        id -> Integer,
        username -> Text,
        at -> Timestamp,
    }
}

diesel::joinable!(role_assignments -> roles (role_id));
diesel::joinable!(role_assignments -> businesses (business_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    businesses,
    roles,
    role_assignments,
    delegations,
    audit_events,
    sign_in_failures,
);
