# Build GO BP / MF / CC gene-set files (gene symbols) for radiogenomics' ORA.
# Source: Debian packages r-bioc-go.db and r-bioc-org.hs.eg.db (Gene Ontology, CC BY 4.0;
# NCBI Gene annotation via org.Hs.eg.db, Artistic-2.0).  Annotations are propagated to
# ancestor terms (org.Hs.egGO2ALLEGS), all evidence codes; sets are kept when they have
# 10..500 genes so the shipped files stay small (the usual ORA size window).
# Usage: Rscript build_go_gmt.R [outdir]     (writes go_bp/mf/cc.symbols.gmt.gz)
suppressPackageStartupMessages({library(GO.db); library(org.Hs.eg.db); library(AnnotationDbi)})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args)) args[1] else "."
min_size <- 10; max_size <- 500
sym <- as.list(org.Hs.egSYMBOL)
go2eg <- as.list(org.Hs.egGO2ALLEGS)
ont <- Ontology(names(go2eg))
term <- Term(names(go2eg))
for (o in c("BP", "MF", "CC")) {
  ids <- names(go2eg)[!is.na(ont) & ont == o]
  keep_ids <- character(0); names_ <- character(0); members <- list()
  for (id in sort(ids)) {
    genes <- sort(unique(unlist(sym[unique(go2eg[[id]])], use.names = FALSE)))
    if (length(genes) < min_size || length(genes) > max_size) next
    keep_ids <- c(keep_ids, id)
    names_ <- c(names_, paste0("GO", o, "_", gsub("_+$", "", gsub("[^A-Za-z0-9]+", "_", toupper(term[[id]])))))
    members[[length(members) + 1]] <- genes
  }
  # distinct terms can sanitise to the same name (e.g. "NAD binding", "NAD+ binding"): add the GO id
  dup <- names_ %in% names_[duplicated(names_)]
  names_[dup] <- paste0(names_[dup], "_", sub(":", "", keep_ids[dup]))
  con <- gzfile(file.path(outdir, sprintf("go_%s.symbols.gmt.gz", tolower(o))), "w")
  for (i in seq_along(keep_ids)) writeLines(paste(c(names_[i], keep_ids[i], members[[i]]), collapse = "\t"), con)
  close(con)
  message(o, ": ", length(keep_ids), " sets, ", sum(dup), " names disambiguated")
}
cat("org.Hs.eg.db", as.character(packageVersion("org.Hs.eg.db")), "GO.db", as.character(packageVersion("GO.db")), "\n")
