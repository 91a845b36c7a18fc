# Reference values from R's mclust for tests/test_mclust_models.py.
#
# Run from the repository root (needs R and mclust; on Debian: apt-get install r-base-core
# r-cran-mclust):
#
#     Rscript tests/data/mclust/make_reference.R
#
# It writes tests/data/mclust/iris.csv (R's iris measurements, so that Python reads exactly
# the numbers mclust saw) and tests/data/mclust/reference.json. CI needs neither R nor mclust:
# both files are committed.
#
# For each data set (Old Faithful from gmm_core/datasets/faithful.csv, iris), each of the 14
# models and G = 1..5, from the start mclust's Mclust() uses by default (the partition of
# model-based hierarchical agglomeration, hclass(hc(X), G), with mclust's default hc options)
# it records:
#   mstep: one M-step, mstep(modelName, X, z), z = unmap(labels): pro, mean, sigma, and the
#          inner iterations of the iterative models;
#   me:    EM from that z, me(modelName, X, z) with emControl() defaults: loglik, BIC (mclust's
#          sign, 2 loglik - npar log n), npar, iterations, pro, mean, sigma, return code.
# It also records Mclust(X, G = 1:5)'s BIC table, which is built from the same starts, and
# me()'s VVE log-likelihood after each iteration (G = 2..5).
#
# Numbers are written with sprintf("%.17g"), which round-trips IEEE doubles exactly; NA and
# non-finite values are written as null. Matrices are written row by row: mean as G rows of
# d numbers, sigma as G matrices of d rows.

suppressPackageStartupMessages(library(mclust))

models <- c("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE",
            "EEV", "VEV", "EVV", "VVV")
Gs <- 1:5
out_dir <- file.path("tests", "data", "mclust")

# ---- a small JSON writer (full precision, no dependency) ------------------------------------
json_array <- function(x) structure(list(x), class = "json_array")
num <- function(x) {
  if (length(x) == 0) return("[]")
  s <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  s
}
to_json <- function(x) {
  if (inherits(x, "json_array")) {
    v <- x[[1]]
    if (is.character(v)) return(paste0("[", paste0('"', v, '"', collapse = ","), "]"))
    if (is.logical(v)) return(paste0("[", paste(ifelse(v, "true", "false"), collapse = ","), "]"))
    return(paste0("[", paste(num(as.double(v)), collapse = ","), "]"))
  }
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      items <- vapply(names(x), function(nm) paste0('"', nm, '":', to_json(x[[nm]])), "")
      return(paste0("{", paste(items, collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  if (is.character(x)) {
    stopifnot(length(x) == 1)
    return(paste0('"', gsub('"', '\\\\"', x), '"'))
  }
  if (is.logical(x)) {
    stopifnot(length(x) == 1)
    return(if (is.na(x)) "null" else if (x) "true" else "false")
  }
  if (is.numeric(x)) {
    if (length(x) == 1 && is.null(dim(x))) return(num(as.double(x)))
    if (is.matrix(x)) {
      return(paste0("[", paste(apply(x, 1, function(r) to_json(json_array(r))),
                               collapse = ","), "]"))
    }
    return(to_json(json_array(x)))
  }
  stop("cannot encode ", class(x))
}

# mean (d x G) -> G rows; sigma (d x d x G) -> G matrices
rows_of_mean <- function(mu, G, d) {
  mu <- matrix(as.double(mu), d, G)
  lapply(seq_len(G), function(k) json_array(mu[, k]))
}
mats_of_sigma <- function(sigma, G, d) {
  if (is.null(sigma)) return(NULL)
  s <- array(as.double(sigma), c(d, d, G))
  lapply(seq_len(G), function(k) s[, , k, drop = TRUE] |> matrix(d, d))
}

one_mstep <- function(model, X, z) {
  G <- ncol(z); d <- ncol(X)
  ms <- mstep(modelName = model, data = X, z = z, warn = FALSE)
  info <- attr(ms, "info")
  list(
    pro = json_array(ms$parameters$pro),
    mean = rows_of_mean(ms$parameters$mean, G, d),
    sigma = mats_of_sigma(ms$parameters$variance$sigma, G, d),
    inner_iterations = if (is.null(info)) NULL else as.double(abs(info[1])),
    inner_error = if (is.null(info)) NULL else as.double(info[2]),
    warning = if (is.null(attr(ms, "WARNING"))) NULL else attr(ms, "WARNING")
  )
}

one_me <- function(model, X, z) {
  G <- ncol(z); d <- ncol(X); n <- nrow(X)
  fit <- me(modelName = model, data = X, z = z, warn = FALSE)
  # meEVV returns its info as a list, the others as a named vector.
  info <- unlist(attr(fit, "info"))
  inner <- attr(attr(fit, "info"), "inner")
  npar <- nMclustParams(model, d = d, G = G)
  ll <- fit$loglik
  list(
    loglik = as.double(ll),
    bic = if (is.na(ll)) NULL else as.double(bic(model, ll, n = n, d = d, G = G)),
    npar = as.double(npar),
    iterations = if (is.null(info)) NULL else as.double(abs(info[1])),
    error = if (is.null(info)) NULL else as.double(info[2]),
    inner_iterations = if (is.null(inner)) NULL else as.double(abs(inner[1])),
    return_code = as.double(attr(fit, "returnCode")),
    warning = if (is.null(attr(fit, "WARNING"))) NULL else attr(fit, "WARNING"),
    pro = json_array(fit$parameters$pro),
    mean = rows_of_mean(fit$parameters$mean, G, d),
    sigma = mats_of_sigma(fit$parameters$variance$sigma, G, d)
  )
}

one_dataset <- function(name, X) {
  X <- as.matrix(X)
  storage.mode(X) <- "double"
  n <- nrow(X); d <- ncol(X)
  hcp <- hc(X, modelName = mclust.options("hcModelName"), use = mclust.options("hcUse"))
  labels <- list(); fits <- list()
  for (G in Gs) {
    cl <- as.integer(hclass(hcp, G))
    labels[[as.character(G)]] <- json_array(cl)
    z <- unmap(cl, groups = seq_len(G))
    for (model in models) {
      fits[[length(fits) + 1]] <- list(
        model = model, G = as.double(G),
        mstep = one_mstep(model, X, z),
        me = one_me(model, X, z)
      )
    }
  }
  # me()'s log-likelihood after 1, 2, ... iterations for VVE (itmax[1] = k): mclust's VVE
  # M-step is not a maximiser, and this path shows whether its EM ever loses likelihood.
  vve_path <- list()
  for (G in Gs[Gs > 1]) {
    z <- unmap(as.integer(hclass(hcp, G)), groups = seq_len(G))
    total <- abs(attr(me(modelName = "VVE", data = X, z = z, warn = FALSE), "info")[1])
    path <- vapply(seq_len(total), function(k) {
      ctrl <- emControl(itmax = c(k, .Machine$integer.max))
      as.double(me(modelName = "VVE", data = X, z = z, control = ctrl, warn = FALSE)$loglik)
    }, 0)
    vve_path[[as.character(G)]] <- json_array(path)
  }
  mc <- Mclust(X, G = Gs, modelNames = models, verbose = FALSE)
  bic_table <- mc$BIC
  bic_list <- list()
  for (model in models) bic_list[[model]] <- json_array(as.double(bic_table[, model]))
  list(
    n = as.double(n), d = as.double(d), columns = json_array(colnames(X)),
    hc = list(modelName = mclust.options("hcModelName"), use = mclust.options("hcUse")),
    labels = labels,
    fits = fits,
    VVE_loglik_path = vve_path,
    Mclust_BIC = bic_list,
    Mclust_best = list(model = mc$modelName, G = as.double(mc$G), bic = as.double(mc$bic))
  )
}

faithful_csv <- read.csv(file.path("gmm_core", "datasets", "faithful.csv"))
iris_x <- datasets::iris[, 1:4]
write.csv(iris_x, file.path(out_dir, "iris.csv"), row.names = FALSE)
# Python reads the CSV; so does this script, so both see the same doubles.
iris_csv <- read.csv(file.path(out_dir, "iris.csv"))

control <- emControl()
result <- list(
  generator = "tests/data/mclust/make_reference.R",
  mclust_version = as.character(packageVersion("mclust")),
  R_version = R.version.string,
  control = list(eps = control$eps, tol = json_array(control$tol),
                 itmax = json_array(as.double(control$itmax))),
  models = json_array(models),
  G = json_array(as.double(Gs)),
  datasets = list(
    faithful = one_dataset("faithful", faithful_csv),
    iris = one_dataset("iris", iris_csv)
  )
)
writeLines(to_json(result), file.path(out_dir, "reference.json"))
cat("wrote", file.path(out_dir, "reference.json"), "with mclust", result$mclust_version, "\n")
