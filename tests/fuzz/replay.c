/*
 * replay.c: runs a libFuzzer target over its seed corpus without clang,
 * one TAP test point per corpus file, so that `make check` exercises
 * every fuzz target. Usage: replay_NAME [DIR|FILE ...]; with no argument
 * it reads $QP_SRCDIR/tests/fuzz/corpus/NAME (NAME from FUZZ_NAME).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n;

static int
cmp(const void *a, const void *b)
{

	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
run_file(const char *path)
{
	FILE *f;
	uint8_t *buf = NULL;
	long len;

	n++;
	if ((f = fopen(path, "rb")) == NULL) {
		printf("not ok %d - %s: cannot open\n", n, path);
		return;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc(len ? (size_t)len : 1)) == NULL ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		printf("not ok %d - %s: cannot read\n", n, path);
		free(buf);
		fclose(f);
		return;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	printf("ok %d - %s\n", n, path);
	fflush(stdout);
}

static void
run_path(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char **names = NULL, full[4096];
	size_t i, nn = 0;

	if (stat(path, &st) != 0) {
		n++;
		printf("ok %d # SKIP %s does not exist\n", n, path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char **nnames;

		if (de->d_name[0] == '.')
			continue;
		if ((nnames = realloc(names, (nn + 1) * sizeof(*names))) == NULL)
			break;
		names = nnames;
		if ((names[nn] = strdup(de->d_name)) == NULL)
			break;
		nn++;
	}
	closedir(d);
	qsort(names, nn, sizeof(*names), cmp);
	for (i = 0; i < nn; i++) {
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		run_file(full);
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char *argv[])
{
	char dir[4096];
	const char *src;
	int i;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			run_path(argv[i]);
	} else {
		if ((src = getenv("QP_SRCDIR")) == NULL)
			src = QP_SRCDIR;
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", src, FUZZ_NAME);
		run_path(dir);
	}
	printf("1..%d\n", n);
	return 0;
}
