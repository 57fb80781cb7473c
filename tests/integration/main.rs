mod bridge;
mod collector_config;
