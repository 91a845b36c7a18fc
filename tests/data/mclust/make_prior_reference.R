# Reference values from R's mclust with its conjugate prior, for tests/test_prior.py.
#
# Run from the repository root (needs R and mclust; on Debian: apt-get install r-base-core
# r-cran-mclust):
#
#     Rscript tests/data/mclust/make_prior_reference.R
#
# It writes tests/data/mclust/prior_reference.json; CI needs neither R nor mclust.
#
# mclust takes a prior (priorControl(), whose defaultPrior() gives the hyperparameters) for
# ten of its fourteen models: its Mclust() drops EVE, VEE, VVE and EVV when a prior is given,
# and their mstep*/me* functions refuse one ("... model is not available with prior").
# For Old Faithful (gmm_core/datasets/faithful.csv) and iris (tests/data/mclust/iris.csv),
# each of those ten models and G = 1..5 it records, from Mclust's default start (the
# partition hclass(hc(X), G), stored as labels):
#   prior:  defaultPrior(X, G, model) (shrinkage, mean, dof, scale);
#   first:  the first M-step of me() with the prior, me(..., control = emControl(itmax = 1)):
#           pro, mean, sigma (me()'s M-step is what EM and Mclust use; mclust's mstep() with
#           a prior differs from it for EII, EEI, EVI and EEV, see gmm_core/prior.py);
#   me:     EM from that partition with the prior and emControl() defaults: loglik (the data
#           log-likelihood), BIC (2 loglik - npar log n), iterations, pro, mean, sigma;
# and Mclust(X, G = 1:5, modelNames = the ten, prior = priorControl())'s BIC table (G = 1
# is mvn() with the prior). On Old Faithful at G = 3 the same with priorControl(shrinkage =
# 0), and with a prior of the user's own (mean, shrinkage, dof, scale given).
# iris, VVV, G = 8 (hc start), with and without the prior. Finally a set with repeated rows
# (two normal clusters rounded to 3 decimals and five copies of one point, stored in the
# JSON): without a prior several of its G = 3, 4 cells are NA (singular covariance), with
# the prior all are finite; its BIC tables both ways, and me() with the prior at G = 3.
#
# Numbers are written with sprintf("%.17g"); NA is null. Matrices are written row by row.

suppressPackageStartupMessages(library(mclust))

models <- c("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "EEV", "VEV", "VVV")
Gs <- 1:5
out_dir <- file.path("tests", "data", "mclust")

json_array <- function(x) structure(list(x), class = "json_array")
num <- function(x) {
  if (length(x) == 0) return("[]")
  ifelse(is.finite(x), sprintf("%.17g", x), "null")
}
to_json <- function(x) {
  if (inherits(x, "json_array")) {
    v <- x[[1]]
    if (is.character(v)) return(paste0("[", paste0('"', v, '"', collapse = ","), "]"))
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
  if (is.character(x)) return(paste0('"', gsub('"', '\\\\"', x[1]), '"'))
  if (is.logical(x)) return(if (is.na(x)) "null" else if (x) "true" else "false")
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
rows_of_mean <- function(mu, G, d) {
  mu <- matrix(as.double(mu), d, G)
  lapply(seq_len(G), function(k) json_array(mu[, k]))
}
mats_of_sigma <- function(sigma, G, d) {
  if (is.null(sigma)) return(NULL)
  s <- array(as.double(sigma), c(d, d, G))
  lapply(seq_len(G), function(k) matrix(s[, , k], d, d))
}
prior_of <- function(X, G, model, ...) {
  p <- defaultPrior(X, G, model, ...)
  list(shrinkage = as.double(p$shrinkage), mean = json_array(as.double(p$mean)),
       dof = as.double(p$dof),
       scale = if (length(p$scale) == 1) as.double(p$scale) else unname(as.matrix(p$scale)))
}
params_of <- function(fit, G, d) {
  list(pro = json_array(fit$parameters$pro),
       mean = rows_of_mean(fit$parameters$mean, G, d),
       sigma = mats_of_sigma(fit$parameters$variance$sigma, G, d))
}
one_me <- function(model, X, z, prior, itmax = .Machine$integer.max) {
  G <- ncol(z); d <- ncol(X); n <- nrow(X)
  ctrl <- emControl(itmax = c(itmax, .Machine$integer.max))
  fit <- me(modelName = model, data = X, z = z, prior = prior, control = ctrl, warn = FALSE)
  info <- unlist(attr(fit, "info"))
  ll <- fit$loglik
  c(list(loglik = as.double(ll),
         bic = if (is.na(ll)) NULL else as.double(bic(model, ll, n = n, d = d, G = G)),
         npar = as.double(nMclustParams(model, d = d, G = G)),
         iterations = if (is.null(info)) NULL else as.double(abs(info[1])),
         return_code = as.double(attr(fit, "returnCode"))),
    if (is.na(ll)) list() else params_of(fit, G, d))
}
one_mvn <- function(model, X, prior) {
  fit <- mvn(modelName = model, data = X, prior = prior, warn = FALSE)
  c(list(loglik = as.double(fit$loglik)), params_of(fit, 1, ncol(X)))
}

one_dataset <- function(X, extra) {
  X <- as.matrix(X)
  storage.mode(X) <- "double"
  hcp <- hc(X, modelName = mclust.options("hcModelName"), use = mclust.options("hcUse"))
  labels <- list(); fits <- list()
  for (G in Gs) {
    cl <- as.integer(hclass(hcp, G))
    labels[[as.character(G)]] <- json_array(cl)
    z <- unmap(cl, groups = seq_len(G))
    for (model in models) {
      cell <- list(model = model, G = as.double(G), prior = prior_of(X, G, model))
      if (G == 1) {
        cell$mvn <- one_mvn(model, X, priorControl())
      } else {
        cell$first <- one_me(model, X, z, priorControl(), itmax = 1)
        cell$me <- one_me(model, X, z, priorControl())
      }
      fits[[length(fits) + 1]] <- cell
    }
  }
  mc <- Mclust(X, G = Gs, modelNames = models, prior = priorControl(), verbose = FALSE)
  bic_list <- list()
  for (model in models) bic_list[[model]] <- json_array(as.double(mc$BIC[, model]))
  out <- list(labels = labels, fits = fits, Mclust_BIC = bic_list,
              Mclust_best = list(model = mc$modelName, G = as.double(mc$G),
                                 bic = as.double(mc$bic)))
  c(out, extra(X, hcp))
}

faithful_extra <- function(X, hcp) {
  z <- unmap(as.integer(hclass(hcp, 3)), groups = 1:3)
  own <- list(shrinkage = 0.5, mean = c(3, 70), dof = 7, scale = matrix(c(0.5, 3, 3, 40), 2, 2))
  own_diag <- list(shrinkage = 0.5, mean = c(3, 70), dof = 7, scale = 2.5)
  cells <- list()
  for (model in models) {
    full <- model %in% c("EEE", "EEV", "VEV", "VVV")
    given <- if (full) own else own_diag
    pc_own <- priorControl(shrinkage = given$shrinkage, mean = given$mean, scale = given$scale)
    cells[[length(cells) + 1]] <- list(
      model = model,
      no_shrinkage = list(prior = prior_of(X, 3, model, shrinkage = 0),
                          first = one_me(model, X, z, priorControl(shrinkage = 0), itmax = 1),
                          me = one_me(model, X, z, priorControl(shrinkage = 0))),
      # defaultPrior() ignores a dof given to priorControl(): it is d + 2 whatever is asked
      own = list(prior = prior_of(X, 3, model, shrinkage = given$shrinkage,
                                  mean = given$mean, scale = given$scale),
                 first = one_me(model, X, z, pc_own, itmax = 1),
                 me = one_me(model, X, z, pc_own)))
  }
  list(G3_variants = cells)
}

iris_extra <- function(X, hcp) {
  cl <- as.integer(hclass(hcp, 8))
  z <- unmap(cl, groups = 1:8)
  without <- me(modelName = "VVV", data = X, z = z, warn = FALSE)
  with_prior <- one_me("VVV", X, z, priorControl())
  mc0 <- Mclust(X, G = 8, modelNames = "VVV", verbose = FALSE)
  mc1 <- Mclust(X, G = 8, modelNames = "VVV", prior = priorControl(), verbose = FALSE)
  list(VVV_G8 = list(labels = json_array(cl),
                     without_prior = list(loglik = as.double(without$loglik),
                                          return_code = as.double(attr(without, "returnCode")),
                                          Mclust_bic = as.double(mc0$BIC[1, 1])),
                     prior = prior_of(X, 8, "VVV"),
                     with_prior = with_prior,
                     Mclust_bic = as.double(mc1$BIC[1, 1])))
}

repeated_data <- function() {
  set.seed(1)
  rbind(matrix(round(rnorm(200), 3), 100, 2), matrix(round(rnorm(200, 8), 3), 100, 2),
        matrix(c(20, -20), 5, 2, byrow = TRUE))
}
repeated_dataset <- function(X) {
  hcp <- hc(X, modelName = mclust.options("hcModelName"), use = mclust.options("hcUse"))
  z <- unmap(as.integer(hclass(hcp, 3)), groups = 1:3)
  a <- mclustBIC(X, G = 1:4, modelNames = models, verbose = FALSE)
  b <- mclustBIC(X, G = 1:4, modelNames = models, prior = priorControl(), verbose = FALSE)
  table_of <- function(t) {
    out <- list()
    for (model in models) out[[model]] <- json_array(as.double(t[, model]))
    out
  }
  fits <- lapply(models, function(model) list(model = model, me = one_me(model, X, z, priorControl())))
  list(X = unname(X), labels3 = json_array(as.integer(hclass(hcp, 3))),
       BIC_without_prior = table_of(a), BIC_with_prior = table_of(b), fits = fits)
}

faithful_csv <- read.csv(file.path("gmm_core", "datasets", "faithful.csv"))
iris_csv <- read.csv(file.path(out_dir, "iris.csv"))
result <- list(
  generator = "tests/data/mclust/make_prior_reference.R",
  mclust_version = as.character(packageVersion("mclust")),
  R_version = R.version.string,
  models = json_array(models),
  G = json_array(as.double(Gs)),
  datasets = list(faithful = one_dataset(faithful_csv, faithful_extra),
                  iris = one_dataset(iris_csv, iris_extra)),
  repeated = repeated_dataset(repeated_data())
)
writeLines(to_json(result), file.path(out_dir, "prior_reference.json"))
cat("wrote", file.path(out_dir, "prior_reference.json"), "with mclust", result$mclust_version, "\n")
