//! The warehouse's Arrow/Parquet schema: every `UserAction` field, then the dimensions.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayRef, BooleanBuilder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;

use super::dimensions::Dimensions;
use actionlog::proto::UserAction;

/// The raw `UserAction` columns, in proto field order.
pub const RAW_COLUMNS: [&str; 11] = [
    "host_name",
    "start_epoch_ms",
    "end_epoch_ms",
    "pos_args_json",
    "keyword_args_json",
    "output",
    "error",
    "user",
    "command",
    "trace_id",
    "span_id",
];

/// The schema of every warehouse file (the Hive partition column `dt` lives in the path).
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let s = |name: &str| Field::new(name, DataType::Utf8, true);
            let i = |name: &str| Field::new(name, DataType::Int64, true);
            Arc::new(Schema::new(vec![
                s("host_name"),
                i("start_epoch_ms"),
                i("end_epoch_ms"),
                s("pos_args_json"),
                s("keyword_args_json"),
                s("output"),
                s("error"),
                s("user"),
                s("command"),
                s("trace_id"),
                s("span_id"),
                Field::new("day", DataType::Int32, true),
                s("user_norm"),
                Field::new("success", DataType::Boolean, false),
                Field::new("kwargs_malformed", DataType::Boolean, false),
                s("resource_key"),
                s("column_name"),
                s("search_term"),
                i("page_index"),
                i("click_index"),
                s("click_source"),
                s("method"),
                i("total_results"),
            ]))
        })
        .clone()
}

/// Column builders for one batch of rows.
#[derive(Debug)]
pub(crate) struct RowsBuilder {
    host_name: StringBuilder,
    start: Int64Builder,
    end: Int64Builder,
    pos_args: StringBuilder,
    kwargs: StringBuilder,
    output: StringBuilder,
    error: StringBuilder,
    user: StringBuilder,
    command: StringBuilder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    day: Int32Builder,
    user_norm: StringBuilder,
    success: BooleanBuilder,
    malformed: BooleanBuilder,
    resource_key: StringBuilder,
    column_name: StringBuilder,
    search_term: StringBuilder,
    page_index: Int64Builder,
    click_index: Int64Builder,
    click_source: StringBuilder,
    method: StringBuilder,
    total_results: Int64Builder,
    len: usize,
}

impl RowsBuilder {
    pub(crate) fn new() -> Self {
        Self {
            host_name: StringBuilder::new(),
            start: Int64Builder::new(),
            end: Int64Builder::new(),
            pos_args: StringBuilder::new(),
            kwargs: StringBuilder::new(),
            output: StringBuilder::new(),
            error: StringBuilder::new(),
            user: StringBuilder::new(),
            command: StringBuilder::new(),
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            day: Int32Builder::new(),
            user_norm: StringBuilder::new(),
            success: BooleanBuilder::new(),
            malformed: BooleanBuilder::new(),
            resource_key: StringBuilder::new(),
            column_name: StringBuilder::new(),
            search_term: StringBuilder::new(),
            page_index: Int64Builder::new(),
            click_index: Int64Builder::new(),
            click_source: StringBuilder::new(),
            method: StringBuilder::new(),
            total_results: Int64Builder::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, a: &UserAction, d: &Dimensions) {
        let long = |l: &Option<actionlog::proto::LongString>| l.as_ref().map(|l| l.value.clone());
        self.host_name.append_option(a.host_name.as_deref());
        self.start.append_option(a.start_epoch_ms);
        self.end.append_option(a.end_epoch_ms);
        self.pos_args.append_option(long(&a.pos_args_json));
        self.kwargs.append_option(long(&a.keyword_args_json));
        self.output.append_option(long(&a.output));
        self.error.append_option(long(&a.error));
        self.user.append_option(a.user.as_deref());
        self.command.append_option(a.command.as_deref());
        self.trace_id.append_option(a.trace_id.as_deref());
        self.span_id.append_option(a.span_id.as_deref());
        self.day.append_option(d.day);
        self.user_norm.append_option(d.user_norm.as_deref());
        self.success.append_value(d.success);
        self.malformed.append_value(d.kwargs_malformed);
        self.resource_key.append_option(d.resource_key.as_deref());
        self.column_name.append_option(d.column_name.as_deref());
        self.search_term.append_option(d.search_term.as_deref());
        self.page_index.append_option(d.page_index);
        self.click_index.append_option(d.click_index);
        self.click_source.append_option(d.click_source.as_deref());
        self.method.append_option(d.method.as_deref());
        self.total_results.append_option(d.total_results);
        self.len += 1;
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        self.len = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.host_name.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.end.finish()),
            Arc::new(self.pos_args.finish()),
            Arc::new(self.kwargs.finish()),
            Arc::new(self.output.finish()),
            Arc::new(self.error.finish()),
            Arc::new(self.user.finish()),
            Arc::new(self.command.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.day.finish()),
            Arc::new(self.user_norm.finish()),
            Arc::new(self.success.finish()),
            Arc::new(self.malformed.finish()),
            Arc::new(self.resource_key.finish()),
            Arc::new(self.column_name.finish()),
            Arc::new(self.search_term.finish()),
            Arc::new(self.page_index.finish()),
            Arc::new(self.click_index.finish()),
            Arc::new(self.click_source.finish()),
            Arc::new(self.method.finish()),
            Arc::new(self.total_results.finish()),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}
