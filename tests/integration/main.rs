mod amundsen_plugin;
mod bridge;
mod collector_config;
