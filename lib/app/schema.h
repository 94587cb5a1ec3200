// schema.h: a JSON document described as data, one row per key (the config's table is in
// config.c). One engine reads, validates, defaults, frees and writes back any struct that
// such a table describes:
//   - an unknown key is an error naming the nearest valid key (edit distance, a sibling
//     first), a key given twice is an error;
//   - a value of the wrong type or out of its bounds is `SRC: KEY must be RULE (got VALUE)`
//     with the row's rule text;
//   - a missing required key is `SRC: missing key "KEY" (MISSING)`;
//   - rows are read, and written back, in the table's order (so when a document breaks
//     several rules, the first row in the table that is broken is named).
// A row says where its value goes (offset and size in the struct, TG_SCHEMA_AT). Rules over
// several keys are a row's parse hook (it runs in the row's place, the key absent or not,
// and may call tg_schema_read_value for the plain reading).
#ifndef TG_APP_SCHEMA_H
#define TG_APP_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct cJSON;

typedef enum {
    // An object whose keys are the rows of section "<section>.<name>" (or "<name>" at the top
    // level). No storage, except when nullable: a bool at the offset, false when null
    // (default def.b). The top-level sections ("model", "data") are such rows.
    TG_SCHEMA_OBJECT,
    // An array of at most `max` objects whose keys are the rows of section
    // "<section>.<name>[]", with offsets relative to one element of `elem` bytes: a
    // pointer to the elements at the offset, their count (int) at `count`. Defaults to [].
    TG_SCHEMA_OBJECTS,
    TG_SCHEMA_BOOL,     // true or false, a bool
    TG_SCHEMA_INT,      // an integral number in [lo, hi], an int or an (u)int64_t (by size)
    TG_SCHEMA_NUMBER,   // a finite number in lo..hi (TG_SCHEMA_LO_OPEN/HI_OPEN: excluded), double
    TG_SCHEMA_NUMBERS,  // exactly `len` numbers, each as TG_SCHEMA_NUMBER, in double[len]
    // One of the strings `choices` (NULL-terminated), stored as its index in an int (or an
    // enum). With TG_SCHEMA_OR_BOOL, false and true are accepted too and stored as 0 and 1,
    // and the strings count from 2 (data.augment: true, false or "flip").
    TG_SCHEMA_ENUM,
    TG_SCHEMA_STRING,  // a non-empty string, malloc'd char * (default NULL, written as null)
    TG_SCHEMA_PATH,    // as STRING, resolved against the document's directory
    // An array of at most `max` non-empty strings: a NULL-terminated malloc'd char ** at the
    // offset, the count (int) at `count`. Defaults to [].
    TG_SCHEMA_STRINGS,
    // Anything else: the row's hooks read, write and free it (storage zeroed by default).
    TG_SCHEMA_CUSTOM,
} tg_schema_type;

enum {
    TG_SCHEMA_NULLABLE = 1 << 0,  // null accepted: NULL (strings, paths), 0 (numbers, whose
                                  // bounds must exclude 0), false at the offset (objects)
    TG_SCHEMA_REQUIRED = 1 << 1,  // absent is an error ("missing key")
    TG_SCHEMA_LO_OPEN = 1 << 2,   // lo itself is out of bounds
    TG_SCHEMA_HI_OPEN = 1 << 3,   // hi itself is out of bounds
    TG_SCHEMA_OR_BOOL = 1 << 4,   // ENUM: true and false too
};

typedef union {
    bool b;
    int64_t i;
    double x;
    const double *v;  // NUMBERS: len values
} tg_schema_default;

typedef struct tg_schema_row tg_schema_row;
typedef struct tg_schema_ctx tg_schema_ctx;

// A row's hooks. parse replaces the plain reading of the row (v is NULL when the key is
// absent; a custom row's parse releases an earlier value it replaces); write and release
// replace the plain writing and freeing (both needed for TG_SCHEMA_CUSTOM rows, whose type
// text is `type`).
typedef struct {
    tg_status (*parse)(const tg_schema_ctx *c, const tg_schema_row *row, const struct cJSON *v,
                       void *base);
    struct cJSON *(*write)(const tg_schema_row *row, const void *base);  // NULL on OOM
    void (*release)(const tg_schema_row *row, void *base);
    const char *type;  // "null, a string or an array" (the README's type column)
} tg_schema_hooks;

struct tg_schema_row {
    const char *section;  // "" at the top level, else the dotted name of the parent object
    const char *name;     // NULL ends the table
    tg_schema_type type;
    unsigned flags;              // TG_SCHEMA_NULLABLE | ...
    size_t offset, size;         // where the value goes (TG_SCHEMA_AT)
    size_t count;                // STRINGS, OBJECTS: offset of the int count
    size_t elem;                 // OBJECTS: size of one element
    int len;                     // NUMBERS: how many
    int max;                     // STRINGS, OBJECTS: at most this many
    double lo, hi;               // INT, NUMBER, NUMBERS: bounds (closed unless LO_OPEN / HI_OPEN)
    const char *const *choices;  // ENUM
    tg_schema_default def;       // the default (zero when not given)
    // What the value must be, as in "must be RULE": "an integer in [1, 8192]". NULL for
    // BOOL, ENUM, STRING, PATH and OBJECT rows: "true or false", "\"a\", \"b\" or \"c\"",
    // "a non-empty path or null", "an object".
    const char *rule;
    const char
        *len_rule;        // STRINGS, OBJECTS: when there are more than max ("at most 256 patterns")
    const char *missing;  // REQUIRED: what the key is ("the training image folder")
    const tg_schema_hooks *hooks;
};

// The place of member m of struct type T: `TG_SCHEMA_AT(tg_config, lr)`.
#define TG_SCHEMA_AT(T, m) .offset = offsetof(T, m), .size = sizeof(((T *)0)->m)

// A table and the size of the struct it describes.
typedef struct {
    const tg_schema_row *rows;  // ends with a row whose name is NULL
    size_t size;
} tg_schema;

// What a parse hook is given: the document, its directory, where errors go and the
// dotted name of the section being read as messages show it ("optimizer.groups[1]").
struct tg_schema_ctx {
    const tg_schema *schema;
    const char *src;   // the document's name in messages
    const char *base;  // relative paths are resolved against it (NULL: left as they are)
    const char *path;  // "" at the top level
    tg_error *err;
};

// Zeroes out and sets every default.
void tg_schema_defaults(const tg_schema *s, void *out);
// Parses JSON text into out (which holds the defaults or earlier values; on failure it may
// hold some values read, which tg_schema_free releases). base_dir: see tg_schema_ctx.
tg_status tg_schema_parse(const tg_schema *s, const char *json, const char *base_dir,
                          const char *src, void *out, tg_error *err);
// The document as indented JSON text (malloc'd), every key present; NULL on OOM.
char *tg_schema_print(const tg_schema *s, const void *in);
// Frees what the values own and resets them to NULL / 0.
void tg_schema_free(const tg_schema *s, void *out);

// The plain reading of one row (what a parse hook calls for the usual part).
tg_status tg_schema_read_value(const tg_schema_ctx *c, const tg_schema_row *row,
                               const struct cJSON *v, void *base);
// Sets `SRC: PATH.NAME must be RULE (got V)` and returns TG_ERR_CONFIG.
tg_status tg_schema_bad(const tg_schema_ctx *c, const char *name, const struct cJSON *v,
                        const char *rule);

// For documentation and tests: a row's dotted key ("data.image_size"), its type as the
// README's table says it ("integer", "path or null", "3 numbers"), and its default as
// compact JSON ("224", "[0.485,0.456,0.406]", "null"), or "required".
void tg_schema_key(const tg_schema_row *row, char *buf, size_t n);
void tg_schema_type_text(const tg_schema_row *row, char *buf, size_t n);
void tg_schema_default_text(const tg_schema *s, const tg_schema_row *row, char *buf, size_t n);

// Checks a table for mistakes the engine would trip on (a size that does not fit the type,
// a missing rule text, a default out of its own bounds, an unknown section, a key twice...).
// False with the first one in why. For tests: a table is constant, so one check will do.
bool tg_schema_valid(const tg_schema *s, char *why, size_t n);

// Levenshtein distance between two strings (used for "did you mean" suggestions).
int tg_edit_distance(const char *a, const char *b);

#endif
